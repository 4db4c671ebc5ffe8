"""Catalog column classification: does a column hold an entity, judged once per connection.

Three signals, strongest first: the column's name (``ssn``, ``date_of_birth``, ``api_key``) when
its type can hold that entity (``email_verified boolean`` is not an email), the column comment,
and a sample of values run through the detectors with the column as context. A strong name
decides even when the sample disagrees (an empty or test-data sample must not unmask a column
named ``ssn``), but the disagreement lowers the confidence and is said in the reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._entities import family
from ._context import name_words, phrase_in

if TYPE_CHECKING:
    from ._detector import Detector

__all__ = ["ColumnClass", "classify"]


@dataclass(frozen=True, slots=True)
class ColumnClass:
    """A column's entity, how sure we are (0..1) and why, for the audit and the console."""

    entity: str
    confidence: float
    reason: str


#: first words of PostgreSQL type names, as `_type_kind` reduces them
_TEXT = frozenset(
    {"text", "varchar", "character", "char", "bpchar", "citext", "name", "json", "jsonb", "xml"}
)
_NUMBER = frozenset({"integer", "int", "int2", "int4", "int8", "bigint", "smallint", "numeric"})
_DATE = frozenset({"date", "timestamp", "timestamptz"})
_TYPES = {
    "text": _TEXT,
    "text|number": _TEXT | _NUMBER,
    "date": _DATE | _TEXT,
    "inet": frozenset({"inet", "cidr"}) | _TEXT,
    "mac": frozenset({"macaddr", "macaddr8"}) | _TEXT,
    "secret": _TEXT | {"bytea"},
}

#: (entity, phrases in the column name, type kinds); the first rule that matches wins, so the
#: more specific phrases ("email address", "ip address") come before the general ("address").
_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("email", ("email*", "e mail", "mail address"), "text"),
    ("ip_address", (
        "ip", "ip address", "ip addr", "ipaddr", "ipv4", "ipv6", "remote addr",
    ), "inet"),
    ("mac_address", ("mac", "mac address", "macaddr", "hwaddr"), "mac"),
    ("iban", ("iban",), "text"),
    ("card_number", (
        "card number", "card no", "card num", "cc number", "credit card", "creditcard", "pan",
        "ccn", "cardnumber",
    ), "text|number"),
    ("us_ssn", ("ssn", "social security", "social security number"), "text|number"),
    ("uk_nino", ("nino", "national insurance", "ni number"), "text"),
    ("national_id", (
        "national id", "tax id", "taxid", "tin", "nif", "nie", "dni", "bsn", "pesel",
        "codice fiscale", "steuer id", "idnr", "nir", "personnummer", "ahv", "avs",
    ), "text|number"),
    ("date_of_birth", (
        "dob", "date of birth", "birth date", "birthdate", "birthday", "born", "birth",
        "geburtsdatum",
    ), "date"),
    ("phone", ("phone*", "telephone", "tel", "mobile", "cell", "fax", "msisdn"), "text|number"),
    ("medical_record", ("mrn", "medical record*"), "text|number"),
    ("person", (
        "full name", "fullname", "first name", "firstname", "last name", "lastname", "given name",
        "family name", "surname", "middle name", "maiden name", "forename", "contact name",
        "customer name", "patient name", "employee name", "holder name", "cardholder",
    ), "text"),
    ("address", (
        "address*", "street*", "addr", "postcode", "postal code", "zip", "zipcode", "zip code",
    ), "text"),
    ("private_key", ("private key", "privkey"), "secret"),
    ("connection_string", ("connection string", "conn str", "dsn", "database url"), "secret"),
    ("password", ("password*", "passwd", "pwd", "passphrase"), "secret"),
    ("high_entropy_token", (
        "api key", "apikey", "token*", "secret*", "access key", "client secret", "credential*",
        "auth key",
    ), "secret"),
)  # fmt: skip
#: a column named like an entity but describing something about it, not holding it
_NEGATORS = (
    "count", "type", "kind", "template", "format", "enabled", "verified", "confirmed", "status",
    "length", "len", "flag", "policy", "pattern", "regex", "rule", "provider", "sent", "consent",
    "opt in", "expires*", "expiry", "expiration", "changed", "updated", "created", "at",
    "required", "strength", "algorithm", "version", "visible", "visibility", "country", "domain",
    "place", "city", "year", "month", "prefix", "label", "hint",
)  # fmt: skip
_PEOPLE_TABLES = (
    "user*", "customer*", "client*", "employee*", "person*", "people", "patient*", "contact*",
    "member*", "student*", "staff", "author*", "account*", "owner*", "applicant*", "guest*",
)  # fmt: skip
_TYPE_WORD = re.compile(r"[a-z0-9]+")
#: share of non-null samples that must be the entity for the sample alone to decide
SAMPLE_SHARE = 0.6


def _type_kind(type_name: str) -> str:
    """``character varying(255)[]`` -> ``varchar``; ``timestamptz`` stays ``timestamptz``."""
    t = type_name.lower().strip().removeprefix("pg_catalog.").split("(")[0].rstrip("[] ")
    aliases = {"character varying": "varchar", "double precision": "float8"}
    t = aliases.get(t, t)
    words = _TYPE_WORD.findall(t)
    return words[0] if words else t


def _by_name(words: str, kind: str, table: str) -> str | None:
    if phrase_in(words, _NEGATORS):
        return None
    for entity, phrases, kinds in _RULES:
        if phrase_in(words, phrases):
            return entity if kind in _TYPES[kinds] else None
    if words.strip() == "name" and phrase_in(table, _PEOPLE_TABLES) and kind in _TEXT:
        return "person"
    return None


def _by_samples(
    detector: Detector, table: str, column: str, samples: Sequence[str]
) -> tuple[str, int, int] | None:
    """The entity most samples are, whole, with its count and the non-null sample count."""
    counts: Counter[str] = Counter()
    total = 0
    for raw in samples:
        value = raw.strip()
        if not value:
            continue
        total += 1
        hits = detector.find(value, column=column, table=table)
        covered: Counter[str] = Counter()
        for f in hits:
            covered[f.entity] += f.end - f.start
        if covered:
            entity, length = covered.most_common(1)[0]
            if length >= 0.7 * len(value):
                counts[entity] += 1
    if not counts:
        return None
    entity, n = counts.most_common(1)[0]
    return entity, n, total


def classify(
    detector: Detector,
    table: str,
    column: str,
    type_name: str,
    comment: str | None,
    samples: Sequence[str],
) -> ColumnClass | None:
    """See `Detector.classify_column`; a pure function of its arguments."""
    kind = _type_kind(type_name)
    table_words = name_words(table)
    named = _by_name(name_words(column), kind, table_words)
    noted = None if named else _by_name(name_words(comment), kind, table_words) if comment else None
    sampled = _by_samples(detector, table, column, samples) if samples else None
    share = sampled[1] / sampled[2] if sampled else 0.0
    what = f"{sampled[1]}/{sampled[2]} samples are {sampled[0]}" if sampled else ""
    by = named or noted
    source = f"column name {column!r}" if named else f"column comment {comment!r}"
    if by is None:
        if sampled and share >= SAMPLE_SHARE:
            return ColumnClass(sampled[0], round(min(0.95, share), 2), what)
        return None
    if sampled and family(sampled[0]) == family(by) and share >= SAMPLE_SHARE:
        # the sample names the precise entity within the family (token -> github_token)
        return ColumnClass(sampled[0], 0.97, f"{source} and {what}")
    if sampled and share >= 0.8:
        return ColumnClass(sampled[0], round(min(0.9, share), 2), f"{what}, despite {source}")
    confidence = 0.9 if named else 0.75
    non_null = sum(1 for s in samples if s.strip())
    if non_null >= 10 and not (sampled and family(sampled[0]) == family(by)):
        return ColumnClass(by, confidence - 0.2, f"{source}; samples do not agree")
    return ColumnClass(by, confidence, source)
