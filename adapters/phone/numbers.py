"""Phone numbers in one form, E.164 (`+8613800138000`), so a caller is found again whatever they typed."""

from __future__ import annotations

import phonenumbers


def e164(number: str, region: str | None = None) -> str:
    """The number in E.164; ValueError (in words a visitor understands) when it is not a possible number.

    `region` (ISO 3166, e.g. "CN") lets a local number without `+` be read as that country's.
    """
    try:
        parsed = phonenumbers.parse(number.strip(), region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{number!r} is not a phone number (give it with its country code, e.g. +86…)") from None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display(number: str) -> str:
    """The international format people read (`+86 138 0013 8000`)."""
    return phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
