"""Text input that every backend can store, every page can show, and nobody can disguise.

Rules, applied by validation so that a breach is a clear 422:

* all text is NFC-normalised, so that "Hóa" typed as decomposed letters (NFD) is the same
  string as the precomposed one: stored once, found by search;
* no text has a C0 or C1 control character (PostgreSQL refuses NUL; none belongs in a name,
  address or description) or a bidirectional override/isolate (U+202A–U+202E, U+2066–U+2069),
  which can make "txt.exe" display as "exe.txt";
* names (of people, businesses, products, units, streets) also have no invisible characters:
  zero-width spaces and joiners, soft hyphens, word joiners and every other format (Cf),
  private-use, unassigned or separator-other-than-space character, so that two names that
  look the same are the same.

Tab, line feed and carriage return stay allowed in free text (multi-line descriptions).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from choso.i18n import N_

# C0 controls and DEL, except tab, line feed and carriage return; and the C1 controls.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
# Unicode general categories never wanted in a name: format (zero-width, bidi marks, soft
# hyphen…), control, private use, surrogate, unassigned, line and paragraph separators.
_NOT_IN_NAMES = frozenset({"Cf", "Cc", "Co", "Cs", "Cn", "Zl", "Zp"})
# Letters (category Lo) that draw nothing: the Hangul fillers.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def has_control_characters(value: str) -> bool:
    return _CONTROL_CHARACTERS.search(value) is not None


def strip_control_characters(value: str) -> str:
    return _CONTROL_CHARACTERS.sub("", value)


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def has_invisible_characters(value: str) -> bool:
    """Characters that change nothing visible, or only the direction of what follows."""
    return any(unicodedata.category(char) in _NOT_IN_NAMES or char in _BLANK_LETTERS for char in value)


def clean_text(value: str) -> str:
    """Free text: NFC, refused if it holds a control character or a direction override."""
    value = nfc(value)
    if has_control_characters(value):
        raise ValueError(N_("Control characters are not allowed here."))
    if _BIDI_CONTROLS.search(value):
        raise ValueError(N_("Characters that change the direction of text are not allowed here."))
    return value


def clean_name(value: str) -> str:
    """A name: free text's rules, and no invisible characters."""
    value = clean_text(value)
    if has_invisible_characters(value):
        raise ValueError(N_("Invisible characters (such as zero-width spaces) are not allowed in names."))
    return value


def _normalise_first(value: Any) -> Any:
    # Before length checks, so that a decomposed name is measured as it will be stored.
    return nfc(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class _TextRule:
    """Annotated metadata: NFC before the string's own validation, the rule after it.

    Put it after any StringConstraints, so that they still show in the OpenAPI schema:
    ``Annotated[str, StringConstraints(max_length=200), NoControlCharacters]``."""

    name: bool

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        check = clean_name if self.name else clean_text
        return core_schema.no_info_before_validator_function(
            _normalise_first, core_schema.no_info_after_validator_function(check, handler(source))
        )


# Free text (descriptions, search queries): NFC, no control or direction-changing characters.
NoControlCharacters = _TextRule(name=False)
# Names: the same, and no invisible characters.
NameRules = _TextRule(name=True)
SafeText = Annotated[str, NoControlCharacters]
NameText = Annotated[str, NameRules]
