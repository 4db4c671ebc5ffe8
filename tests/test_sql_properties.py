"""Properties of `analyze` on hostile input: it never raises, and the cache never changes an answer.

Statements are generated from a small grammar of SQL fragments (with literals, comments, quoting
and case mixed in), and also cut and spliced at random, because the gateway sees whatever a client
sends.
"""

from __future__ import annotations

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from wardgate.sql import KINDS, Analysis, analyze
from wardgate.sql._analyze import analyze_uncached, clear_cache

FUZZ = settings(max_examples=200, deadline=None, database=None)

# -- a small grammar of SQL fragments ----------------------------------------------------------

idents = st.sampled_from(
    ["t", "users", "s.orders", '"DELETE"', '"Drop Table"', "pg_settings", "x", "d", "secret"]
)
columns = st.sampled_from(["a", "id", "email", '"delete"', "t.a", "*", "count(*)"])
safe_text = st.text(alphabet=string.ascii_letters + string.digits + " ;-*/$'\"()", max_size=12)
literals = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    safe_text.map(lambda s: "'" + s.replace("'", "''") + "'"),
    safe_text.filter(lambda s: "$" not in s).map(lambda s: f"$q${s}$q$"),
    st.sampled_from(["NULL", "true", "off", "'on'", "1.5", "E'\\''", "$1"]),
)
settings_names = st.sampled_from(
    ["default_transaction_read_only", "transaction_read_only", "search_path", "work_mem", "role"]
)


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    choice = draw(st.integers(0, 5 if depth < 2 else 1))
    if choice == 0:
        return draw(literals)
    if choice == 1:
        return draw(columns.filter(lambda c: c != "*"))
    if choice == 2:
        fn = draw(st.sampled_from(["lower", "my_func", "nextval", "pg_read_file", "max"]))
        return f"{fn}({draw(expressions(depth + 1))})"
    if choice == 3:
        op = draw(st.sampled_from(["+", "=", "||", "AND", "<"]))
        return f"{draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))}"
    if choice == 4:
        return f"(SELECT {draw(columns)} FROM {draw(idents)} WHERE {draw(expressions(depth + 1))})"
    return f"set_config('{draw(settings_names)}', {draw(literals)}, false)"


_KEYWORDS = re.compile(r"\b(SELECT|FROM|WHERE|UPDATE|SET|DELETE|INSERT|INTO|VALUES|WITH|AS)\b")


@st.composite
def queries(draw: st.DrawFn, depth: int = 0) -> str:
    table, col = draw(idents), draw(columns)
    where = draw(st.one_of(st.just(""), expressions().map(lambda e: f" WHERE {e}")))
    returning = draw(st.sampled_from(["", " RETURNING *", " RETURNING id, lower(email)"]))
    form = draw(st.integers(0, 6 if depth < 2 else 3))
    if form == 0:
        return f"SELECT {col}, {draw(expressions())} FROM {table}{where}"
    if form == 1:
        return f"INSERT INTO {table} VALUES ({draw(expressions())}){returning}"
    if form == 2:
        return f"UPDATE {table} SET a = {draw(expressions())}{where}{returning}"
    if form == 3:
        return f"DELETE FROM {table}{where}{returning}"
    inner = draw(queries(depth + 1))
    if form == 4:
        return f"WITH c AS ({inner}) SELECT * FROM c"
    if form == 5:
        return f"SELECT * FROM ({inner}) q JOIN {table} ON true"
    return f"{inner} UNION ALL SELECT 1, 2"


copy_targets = st.sampled_from(["STDOUT", "PROGRAM 'sh'", "'/tmp/x'"])


@st.composite
def statements(draw: st.DrawFn) -> str:
    form = draw(st.integers(0, 7))
    if form < 4:
        query = draw(queries())
        explain = draw(st.sampled_from(["", "ANALYZE ", "(ANALYZE off) "]))
        stmt = [query, f"EXPLAIN {explain}{query}", f"PREPARE p AS {query}",
                f"COPY ({query}) TO STDOUT"][form]  # fmt: skip
    elif form == 4:
        stmt = f"SET {draw(settings_names)} = {draw(literals)}"
    elif form == 5:
        stmt = f"BEGIN {draw(st.sampled_from(['', 'READ ONLY', 'READ WRITE']))}"
    elif form == 6:
        stmt = f"COPY {draw(idents)} TO {draw(copy_targets)}"
    else:
        stmt = f"DO $$ BEGIN {draw(safe_text.filter(lambda s: '$' not in s))} END $$"
    if draw(st.booleans()):  # mixed-case keywords
        mask = draw(st.integers(0, 2**32 - 1))

        def mix(match: re.Match[str]) -> str:
            word = match.group()
            return "".join(c.lower() if mask >> (i % 32) & 1 else c for i, c in enumerate(word))

        stmt = _KEYWORDS.sub(mix, stmt)
    comment = draw(st.sampled_from(["", "-- c\n", "/* c; DROP */ ", "/* a /* b */ */"]))
    return comment + stmt


scripts = st.lists(statements(), min_size=1, max_size=3).map("; ".join)


def _well_formed(analysis: Analysis) -> None:
    assert isinstance(analysis, Analysis)
    if analysis.unparsable:
        assert analysis.statements == () and analysis.error
        return
    for facts in analysis.statements:
        assert facts.kinds <= KINDS
        assert facts.kinds or facts.command  # every statement is classified


# -- never raises ---------------------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=200))
def test_any_text(sql: str) -> None:
    _well_formed(analyze(sql))


@FUZZ
@given(scripts)
def test_generated_statements(sql: str) -> None:
    _well_formed(analyze(sql))


@FUZZ
@given(scripts, st.integers(0, 400), st.integers(0, 400), st.text(max_size=5))
def test_cut_and_spliced_statements(sql: str, cut: int, at: int, junk: str) -> None:
    mangled = sql[:cut] + junk + sql[at:]
    _well_formed(analyze(mangled))


@FUZZ
@given(scripts, st.integers(0, 400))
def test_nul_anywhere_is_unparsable(sql: str, at: int) -> None:
    analysis = analyze(sql[:at] + "\0" + sql[at:])
    assert analysis.unparsable


def test_deep_nesting_fails_closed() -> None:
    for sql in ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "SELECT " + "1+" * 20000 + "1"):
        analysis = analyze(sql)
        _well_formed(analysis)


# -- the cache never changes an answer ----------------------------------------------------------


@FUZZ
@given(scripts)
def test_repeated_analysis_is_equal_and_matches_a_cold_one(sql: str) -> None:
    first = analyze(sql)
    assert analyze(sql) == first
    assert analyze_uncached(sql) == first


@st.composite
def shape_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two texts of a generated statement that differ only in their numeric literals."""
    sql = draw(scripts)
    seed = draw(st.integers(0, 10**9))
    return sql, re.sub(r"\d+", lambda m: str((int(m.group()[:9]) + seed) % 10**9), sql)


@FUZZ
@given(
    st.sampled_from(
        [
            "SELECT a FROM t WHERE id = {}",
            "UPDATE t SET a = {} WHERE id = 1",
            "DELETE FROM s.orders WHERE total > {} RETURNING id, email",
            "/* c */ SELECT lower(email) AS e FROM users WHERE x = {} -- tail",
            "SELECT set_config('transaction_read_only', {}, false)",
            "INSERT INTO t VALUES ({}) RETURNING *",
        ]
    ),
    st.lists(literals, min_size=2, max_size=4),
)
def test_same_shape_other_literals_answers_as_cold(template: str, values: list[str]) -> None:
    for value in values:
        sql = template.format(value)
        assert analyze(sql) == analyze_uncached(sql)


@FUZZ
@given(shape_pairs())
def test_generated_shapes_answer_as_cold(pair: tuple[str, str]) -> None:
    for sql in pair:
        assert analyze(sql) == analyze_uncached(sql)


@FUZZ
@given(settings_names, literals, literals)
def test_set_values_are_never_shared_through_the_cache(name: str, one: str, two: str) -> None:
    for value in (one, two):
        sql = f"SET {name} = {value}"
        assert analyze(sql) == analyze_uncached(sql)


def test_different_set_values_give_different_settings() -> None:
    on = analyze("SET default_transaction_read_only = on")
    off = analyze("SET default_transaction_read_only = off")
    assert on.statements[0].settings == (("default_transaction_read_only", "on"),)
    assert off.statements[0].settings == (("default_transaction_read_only", "off"),)
    assert not on.statements[0].read_only_breaking
    assert off.statements[0].read_only_breaking
    on_fn = analyze("SELECT set_config('transaction_read_only', 'on', false)")
    off_fn = analyze("SELECT set_config('transaction_read_only', 'off', false)")
    assert on_fn.statements[0].settings != off_fn.statements[0].settings
    assert off_fn.statements[0].read_only_breaking and not on_fn.statements[0].read_only_breaking


def test_shape_hit_gets_its_own_text() -> None:
    clear_cache()
    first = analyze("SELECT abalance FROM pgbench_accounts WHERE aid = 123;")
    second = analyze("SELECT abalance FROM pgbench_accounts WHERE aid = 987654;")
    assert second.statements[0].text == "SELECT abalance FROM pgbench_accounts WHERE aid = 987654"
    assert first.statements[0].text.endswith("123")
    assert second.statements[0].columns == first.statements[0].columns
    assert analyze("SELECT abalance FROM pgbench_accounts WHERE aid = 123;") is first


def test_begin_modes_are_not_shared() -> None:
    assert not analyze("BEGIN READ ONLY").statements[0].read_only_breaking
    assert analyze("BEGIN READ WRITE").statements[0].read_only_breaking


def test_column_aliases_are_not_shared() -> None:
    assert analyze("SELECT a AS x FROM t").statements[0].columns[0].name == "x"
    assert analyze("SELECT a AS y FROM t").statements[0].columns[0].name == "y"


def test_search_path_is_part_of_the_key() -> None:
    sql = "SELECT lower(a) FROM t"
    assert not analyze(sql).statements[0].calls_unknown_functions
    shadowed = analyze(sql, search_path=("app", "pg_catalog"))
    assert shadowed.statements[0].calls_unknown_functions
    assert shadowed.search_path == ("app", "pg_catalog")


def test_the_cache_is_bounded() -> None:
    from wardgate.sql import _analyze

    clear_cache()
    for i in range(_analyze.MAX_ENTRIES + 50):
        analyze(f"SET application_name = 'a{i}'")
    assert len(_analyze._exact) == _analyze.MAX_ENTRIES
    huge = "SELECT 1 -- " + "x" * _analyze.MAX_CACHED_CHARS
    analyze(huge)
    assert all(key[0] != huge for key in _analyze._exact._data)
    clear_cache()
