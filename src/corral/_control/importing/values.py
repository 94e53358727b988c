"""Source values (text in an INI file, JSON-ish data in PM2's) checked and turned into corral's.

Each function refuses a bad value at its source line, naming the setting.
"""

from __future__ import annotations

import re
import shlex

from corral._control.importing.report import Origin, refuse

__all__ = ["boolean", "byte_size", "integer", "key_values", "program_name", "split_command"]

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_SIZE = re.compile(r"(?P<number>\d+)\s*(?P<unit>kb|mb|gb|k|m|g|b)?", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
}
_NAME_CHAR = re.compile(r"[^A-Za-z0-9_.-]")


def boolean(text: str, origin: Origin, setting: str) -> bool:
    """supervisord's booleans: true/false, yes/no, on/off, 1/0 in any case."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    refuse(origin, "true or false (yes/no, on/off, 1/0)", repr(text), setting)


def integer(text: str, origin: Origin, setting: str, minimum: int = 0) -> int:
    """A decimal integer of at least `minimum`."""
    try:
        number = int(text.strip())
    except ValueError:
        refuse(origin, f"an integer >= {minimum}", repr(text), setting)
    if number < minimum:
        refuse(origin, f"an integer >= {minimum}", repr(text), setting)
    return number


def byte_size(text: str, origin: Origin, setting: str) -> int:
    """supervisord's sizes, "50MB", "1KB", "1024": bytes, in powers of 1024."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        refuse(origin, 'a size: bytes, or a number with KB, MB or GB ("50MB")', repr(text), setting)
    return int(match["number"]) * _UNITS[(match["unit"] or "").lower()]


def split_command(text: str, origin: Origin, setting: str) -> list[str]:
    """A command line split as supervisord splits it (shell words, no shell)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        refuse(origin, "a command line with balanced quotes", f"{text!r} ({exc})", setting)
    if not words:
        refuse(origin, "a command", "an empty value", setting)
    return words


def key_values(text: str, origin: Origin, setting: str) -> dict[str, str]:
    """supervisord's `KEY="value",KEY2=value2`: commas inside quotes belong to the value."""
    items: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for char in text:
        if quote is not None:
            quote = None if char == quote else quote
            current.append(char)
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if quote is not None:
        refuse(origin, "KEY=value pairs with balanced quotes", repr(text), setting)
    items.append("".join(current))
    pairs: dict[str, str] = {}
    for item in (item.strip() for item in items):
        if not item:
            continue
        name, equals, raw = item.partition("=")
        if not equals or not name.strip():
            refuse(origin, "KEY=value pairs separated by commas", repr(item), setting)
        pairs[name.strip()] = _unquote(raw.strip())
    return pairs


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def program_name(name: str) -> str:
    """A name corral accepts for a program (letters, digits, _ . -): others become _."""
    cleaned = _NAME_CHAR.sub("_", name.strip())
    return "_" + cleaned[1:] if cleaned[:1] in (".", "-") else cleaned or "_"
