"""Pydantic validation errors as clear, translated, per-field messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from choso.i18n import N_, gettext_

_MESSAGES = {
    "missing": N_("This field is required."),
    "string_too_short": N_("Too short: at least %(min_length)s characters."),
    "string_too_long": N_("Too long: at most %(max_length)s characters."),
    "string_pattern_mismatch": N_("The format is not valid."),
    "int_parsing": N_("Enter a whole number."),
    "int_type": N_("Enter a whole number."),
    "float_parsing": N_("Enter a number."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "greater_than": N_("Must be more than %(gt)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "enum": N_("Choose one of the allowed values."),
    "extra_forbidden": N_("This field is not allowed."),
    "json_invalid": N_("The request body is not valid JSON."),
    "model_attributes_type": N_("The request body must be a JSON object."),
    "dict_type": N_("The request body must be a JSON object."),
}
_FALLBACK = N_("This value is not valid.")
_EMAIL = N_("Enter a valid email address.")


def field_name(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "form")]
    return ".".join(parts) or "body"


def describe_errors(errors: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    described = []
    for error in errors:
        error_type = error.get("type", "")
        context = error.get("ctx") or {}
        if error_type == "value_error" and "email" in str(error.get("msg", "")).lower():
            message = gettext_(_EMAIL)
        elif error_type in _MESSAGES:
            try:
                message = gettext_(_MESSAGES[error_type]) % {k: str(v) for k, v in context.items()}
            except (KeyError, ValueError, TypeError):
                message = gettext_(_FALLBACK)
        elif error_type == "value_error":
            # Our own validators raise ValueError(message id); translate it like any message.
            # (never gettext_(""): that returns the catalogue's header)
            own_message = str(context.get("error") or "")
            message = gettext_(own_message) if own_message else gettext_(_FALLBACK)
        else:
            message = gettext_(_FALLBACK)
        described.append({"field": field_name(error.get("loc", ())), "message": message, "type": error_type})
    return described
