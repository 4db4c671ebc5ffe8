"""What an operator knows about the value it masks, and the errors it can raise.

The context deliberately carries nothing that names the column or table: a token must depend only
on the value, the format its entity selects and the key, so the same e-mail address masks to the
same token in every column of every table, and joins, GROUP BY and DISTINCT keep working on masked
results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DomainTooSmall", "MaskContext", "MaskError", "MaskOptions", "UnknownOperator"]


class MaskError(ValueError):
    """A value cannot be masked as asked. Messages never contain the value or key material."""


class UnknownOperator(MaskError):
    """No operator of that name is registered."""


class DomainTooSmall(MaskError):
    """FPE was asked to encrypt a value whose format has fewer than 1,000,000 possible values.

    NIST SP 800-38G does not approve FF1 on such domains (an attacker can recover messages), so
    `fpe` refuses rather than silently weakening. The caller picks a fallback (NULL, `redact`).
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskOptions:
    """Per-directive knobs.

    ``keep_last``: how many trailing characters `partial` leaves visible.
    ``date_precision``: ``"year"`` makes `tokenize` generalise dates and timestamps to January 1st
    of their year instead of producing a keyed date in the same year.
    """

    keep_last: int = 4
    date_precision: Literal["day", "year"] = "day"

    def __post_init__(self) -> None:
        if self.keep_last < 0:
            raise ValueError("keep_last must not be negative")
        if self.date_precision not in ("day", "year"):
            raise ValueError("date_precision must be 'day' or 'year'")


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskContext:
    """The value's entity (from `wardgate.masking._entities`, ``None`` if unknown), its
    PostgreSQL type (``pg_type.typname``: ``'text'``, ``'int4'``, ``'timestamptz'``...), the
    character limit of ``varchar(n)``/``char(n)`` if any, and the directive's options.

    Values are in PostgreSQL's text output format (``DateStyle`` ISO). For a span inside a larger
    text value the caller passes the span's entity and the *enclosing* type (a text type).
    """

    entity: str | None = None
    type_name: str = "text"
    max_length: int | None = None
    options: MaskOptions = MaskOptions()

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < 1:
            raise ValueError("max_length must be positive")
