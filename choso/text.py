"""Text input that every backend can store and every page can show.

PostgreSQL refuses NUL in text, and no name, address or description has a control
character in it; rejecting them at validation gives a clear 422 instead of a driver error.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from choso.i18n import N_

# C0 controls and DEL, except tab, line feed and carriage return (multi-line descriptions).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(value: str) -> bool:
    return _CONTROL_CHARACTERS.search(value) is not None


def strip_control_characters(value: str) -> str:
    return _CONTROL_CHARACTERS.sub("", value)


def _reject_control_characters(value: str) -> str:
    if has_control_characters(value):
        raise ValueError(N_("Control characters are not allowed here."))
    return value


# Put it after any StringConstraints, so that they still show in the OpenAPI schema:
#   Annotated[str, StringConstraints(max_length=200), NoControlCharacters]
NoControlCharacters = AfterValidator(_reject_control_characters)
SafeText = Annotated[str, NoControlCharacters]
