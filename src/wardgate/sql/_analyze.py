"""`analyze`: parse a query string with PostgreSQL's grammar and describe every statement in it.

Theory of operation
-------------------
A gateway at 0.4x direct throughput has some 20-40 us of Python per statement (DESIGN.md, Costs),
and building pglast's Python tree alone costs more than that. So analyses are reused, from two
bounded LRU caches (`MAX_ENTRIES` each):

1. **Exact cache**, keyed by the text itself (and the search_path): every analysis made from
   scratch is kept here, so a repeated text (BEGIN, COMMIT, an ORM's parameterised statement) costs
   one dict lookup.
2. **Shape cache**, keyed by ``pglast.parser.normalize`` of the text: the same text with every
   literal replaced by ``$n``. Statements that differ only in literals (``WHERE aid = 123`` and
   ``= 456``) share one entry, and a hit is rebuilt with the new statement's own text (hits are not
   added to the exact cache, so a stream of distinct literals cannot flush it).

The shape key is ``normalize`` rather than ``fingerprint``: a fingerprint also drops column
aliases, prepared statement names and transaction modes (``BEGIN READ ONLY`` and ``BEGIN READ
WRITE`` fingerprint alike), all of which change facts, while a normalized text drops literals only,
and costs less. A shape entry is only made for a single SELECT/INSERT/UPDATE/DELETE/MERGE whose
facts read no literal: `_statement.describe` refuses one that calls set_config, the one place such
a statement's facts depend on a literal (SET, BEGIN and the rest are utility statements and only
ever hit the exact cache). Texts containing NUL never reach ``normalize`` (libpg_query would stop
reading at the NUL), and texts longer than `MAX_CACHED_CHARS` are not cached, so the caches' memory
is bounded by entries times that size. ``Analysis.fingerprint`` is still pglast's fingerprint,
for grouping statements in audit and reports.

Measured here (2 cores, best of 7 timeit runs) on the reference statement
``SELECT abalance FROM pgbench_accounts WHERE aid = 123;``: parse_sql ~38 us, fingerprint ~2.7 us,
normalize ~1.8 us; cold analysis ~83 us (parse, fingerprint and ~40 us of analysis); the same text
again ~0.2 us; the same shape with a new literal each time ~5.5 us (normalize, lookup, and new
frozen facts for the new text).

Failing closed: a string PostgreSQL's grammar rejects, or one the analyzer cannot finish (a bug or
a tree deep enough to exhaust the Python stack), comes back ``unparsable`` and is never treated as a
read. `analyze` does not raise.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import fields
from typing import Generic, TypeVar

from pglast import parser

from ._facts import Analysis, StatementFacts
from ._statement import describe

__all__ = ["MAX_CACHED_CHARS", "MAX_ENTRIES", "analyze", "analyze_uncached", "clear_cache"]

MAX_ENTRIES = 10_000
MAX_CACHED_CHARS = 16_384

_K = TypeVar("_K")
_V = TypeVar("_V")


class _LRU(Generic[_K, _V]):
    """A bounded least-recently-used map."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._data: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self._capacity:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class _Template:
    """Facts of a one-statement shape, and where its text sits in the string (the characters
    before and after it contain no literal, so they are the same for every string of the shape).

    A hit builds new frozen objects from stored keyword arguments: about half the cost of
    `dataclasses.replace`, which looks the fields up again on every call.
    """

    __slots__ = ("_analysis", "_analysis_fields", "_facts_fields", "_prefix", "_suffix", "_text")

    def __init__(self, analysis: Analysis, prefix: int, suffix: int) -> None:
        facts = analysis.statements[0]
        self._analysis = analysis
        self._text = facts.text
        self._prefix = prefix
        self._suffix = suffix
        self._facts_fields = {f.name: getattr(facts, f.name) for f in fields(facts)}
        del self._facts_fields["text"]
        self._analysis_fields = {f.name: getattr(analysis, f.name) for f in fields(analysis)}
        del self._analysis_fields["statements"]

    def instantiate(self, sql: str) -> Analysis:
        text = sql[self._prefix : len(sql) - self._suffix]
        if text == self._text:
            return self._analysis
        facts = StatementFacts(text=text, **self._facts_fields)
        return Analysis(statements=(facts,), **self._analysis_fields)


_exact: _LRU[tuple[str, tuple[str, ...]], tuple[Analysis, str | None]] = _LRU(MAX_ENTRIES)
_shapes: _LRU[tuple[str, tuple[str, ...]], _Template] = _LRU(MAX_ENTRIES)


def clear_cache() -> None:
    """Forget every cached analysis (tests, benchmarks)."""
    _exact.clear()
    _shapes.clear()


def analyze(sql: str, *, search_path: tuple[str, ...] = ("public",)) -> Analysis:
    """Analyze a query string (one or more statements); never raises.

    ``search_path`` is the session's; it decides whether an unqualified function name surely
    means the builtin, and is kept on the result for `Analysis.qualified`.
    """
    return analyze_shaped(sql, search_path=search_path)[0]


def analyze_shaped(
    sql: str, *, search_path: tuple[str, ...] = ("public",)
) -> tuple[Analysis, str | None]:
    """`analyze`, and the statement's *shape* when its facts cannot depend on its literals.

    The shape is the normalized text (literals as ``$n``), given only for the strings the shape
    cache accepts: two strings of one shape then have equal facts but for ``text``. Callers may
    key their own derived results (policy decisions) by it.
    """
    if not isinstance(sql, str):
        return _unparsable(f"not a string: {type(sql).__name__}", ("public",)), None
    search_path = tuple(search_path)
    key = (sql, search_path)
    hit = _exact.get(key)
    if hit is not None:
        return hit
    shape_key: tuple[str, tuple[str, ...]] | None = None
    if "\0" not in sql:
        try:
            shape_key = (parser.normalize(sql), search_path)
        except Exception:  # unparsable: the cold path reports it
            shape_key = None
    if shape_key is not None:
        template = _shapes.get(shape_key)
        if template is not None:
            return template.instantiate(sql), shape_key[0]
    analysis, bounds = _analyze(sql, search_path)
    shape = shape_key[0] if bounds is not None and shape_key is not None else None
    if len(sql) <= MAX_CACHED_CHARS:
        _exact.put(key, (analysis, shape))
        if bounds is not None and shape_key is not None:
            _shapes.put(shape_key, _Template(analysis, bounds[0], len(sql) - bounds[1]))
    return analysis, shape


def analyze_uncached(sql: str, *, search_path: tuple[str, ...] = ("public",)) -> Analysis:
    """`analyze` without the caches: what a cache hit must always equal."""
    return _analyze(sql, tuple(search_path))[0]


def _unparsable(error: str, search_path: tuple[str, ...]) -> Analysis:
    return Analysis(
        statements=(), unparsable=True, error=error, fingerprint=None, search_path=search_path
    )


def _bounds(sql: str, location: int | None, length: int | None) -> tuple[int, int]:
    start = location or 0
    end = start + length if length else len(sql)
    segment = sql[start:end]
    stripped = segment.lstrip()
    start += len(segment) - len(stripped)
    return start, start + len(stripped.rstrip())


def _analyze(sql: str, search_path: tuple[str, ...]) -> tuple[Analysis, tuple[int, int] | None]:
    """The analysis, and the text bounds of its one statement if its facts hold for its shape."""
    if "\0" in sql:
        return _unparsable("the statement text contains a NUL character", search_path), None
    try:
        raw = parser.parse_sql(sql)
        fingerprint = parser.fingerprint(sql)
    except parser.ParseError as exc:
        return _unparsable(str(exc), search_path), None
    except Exception as exc:  # e.g. RecursionError building a very deep tree
        return _unparsable(f"the parser failed: {type(exc).__name__}: {exc}", search_path), None
    try:
        statements: list[StatementFacts] = []
        cacheable = len(raw) == 1
        bounds = (0, 0)
        for stmt in raw:
            bounds = _bounds(sql, stmt.stmt_location, stmt.stmt_len)
            facts, shape_ok = describe(stmt.stmt, sql[bounds[0] : bounds[1]], search_path)
            statements.append(facts)
            cacheable = cacheable and shape_ok
    except Exception as exc:  # an analyzer gap fails closed instead of passing as a read
        return _unparsable(f"the analyzer failed: {type(exc).__name__}: {exc}", search_path), None
    analysis = Analysis(
        statements=tuple(statements),
        unparsable=False,
        error=None,
        fingerprint=fingerprint,
        search_path=search_path,
    )
    return analysis, bounds if cacheable else None
