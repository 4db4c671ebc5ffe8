"""Checksums and measures shared by recognizers and by custom entities (``validator: luhn``).

Each is pure and cheap, and runs only on candidates the combined pass found.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from collections.abc import Callable

__all__ = ["BUILTIN", "digits", "luhn", "mod97", "resolve", "shannon_entropy"]


def digits(value: str) -> str:
    """The decimal digits of ``value``, separators dropped."""
    return "".join(c for c in value if c.isdigit())


def luhn(value: str) -> bool:
    """The Luhn (mod 10) check of payment cards, IMEIs and some national ids; separators ignored."""
    ds = digits(value)
    if len(ds) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(ds)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mod97(value: str) -> bool:
    """ISO 7064 mod 97-10 as IBANs use it: country and check moved to the end, letters as 10..35."""
    compact = "".join(value.split()).upper()
    if len(compact) < 5 or not compact.isalnum() or not compact.isascii():
        return False
    rotated = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rotated)
    return int(number) % 97 == 1


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s own character distribution."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


#: validators a custom entity may name besides a ``stdnum.*`` module
BUILTIN: dict[str, Callable[[str], bool]] = {"luhn": luhn, "mod97": mod97}


def resolve(name: str) -> Callable[[str], bool]:
    """A validator by name: ``luhn``, ``mod97`` or a python-stdnum module such as ``stdnum.es.nif``.

    Only ``stdnum.*`` modules are importable here, so a policy file cannot make the gateway import
    arbitrary code by naming it as a validator.
    """
    if name in BUILTIN:
        return BUILTIN[name]
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "stdnum" or not all(p.isidentifier() for p in parts):
        raise ValueError(f"unknown validator {name!r}: use luhn, mod97 or a stdnum.* module")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ValueError(f"unknown validator {name!r}: no such python-stdnum module") from exc
    is_valid = getattr(module, "is_valid", None)
    if not callable(is_valid):
        raise ValueError(f"validator {name!r} has no is_valid()")

    def check(value: str) -> bool:
        try:
            return bool(is_valid(value))
        except Exception:  # stdnum validators may raise on odd input; a raise means "not valid"
            return False

    return check
