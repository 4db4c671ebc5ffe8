"""Prepared masks, their memos and the caches under them: the same outputs as masking value by
value, never shared between keys, and tokens pinned so that speed work cannot change them."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wardgate.masking.operators._text as text_format
from wardgate.masking import ColumnAction, MaskSpec, MaskStats, RowMasker, TypeInfo, Unmaskable
from wardgate.masking._ff1 import FF1
from wardgate.masking.operators import (
    DomainTooSmall,
    Keyring,
    MaskContext,
    MaskError,
    UnknownOperator,
    mask,
    prepare,
    prepare_encoded,
)
from wardgate.masking.operators._memo import memoize
from wardgate.masking.operators._scramble import TokenScrambler, tokens

KEY1 = b"wardgate-pinned-token-key-0123456789abcdef"
KEY2 = bytes(range(40))

# Outputs of `mask` computed before masking had prepared operators, memos, small-domain tables
# and cached FF1 and format set-ups. Tokens are stable across releases (joins with data masked
# earlier depend on it): a change here is a change of every token, not a speed-up.
PINNED = [
    ("tokenize", "person", "text", "Ada Lovelace", "Dennis Spencer"),
    ("tokenize", "email", "text", "ada.lovelace123@example.com", "npm.kedtrefa644@example.com"),
    (
        "tokenize",
        "email",
        "text",
        "grace.hopperbrewster1906@corp.example.net",
        "goews.vsbeyaifggidbq9045@corp.example.net",
    ),
    ("tokenize", "phone", "text", "+1 (202) 208-0013", "+1 (289) 527-3369"),
    ("tokenize", "phone", "text", "+44 20 7946 0958", "+44 24 9340 8965"),
    ("tokenize", "card_number", "text", "4000000001047290", "4000022807047290"),
    ("tokenize", "card_number", "text", "4111 1111 1111 1111", "4111 1909 5613 1111"),
    ("tokenize", "iban", "text", "DE38000000000000020264", "DE19239961822696726660"),
    ("tokenize", "iban", "text", "GB82 WEST 1234 5698 7654 32", "GB42 CEKY 0424 8464 4808 45"),
    ("tokenize", "us_ssn", "text", "123-45-6789", "660-82-5463"),
    ("tokenize", "uk_nino", "text", "AB 12 34 56 C", "AB 84 42 46 C"),
    ("tokenize", "mac_address", "text", "00:1A:2B:3C:4D:5E", "18:79:38:22:27:22"),
    ("tokenize", "ip_address", "text", "10.1.2.3", "84.209.242.105"),
    ("tokenize", "date_of_birth", "date", "1987-06-15", "1987-11-01"),
    ("tokenize", "date_of_birth", "text", "1987-06-15", "1987-11-01"),
    ("tokenize", None, "timestamptz", "2024-01-01 00:00:01+00", "2024-11-15 20:07:00+00"),
    ("tokenize", None, "int4", "123456", "604638"),
    ("tokenize", None, "numeric", "1234.56", "5054.47"),
    (
        "tokenize",
        None,
        "uuid",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "6281cb03-ed2f-4c04-ac92-df569877ecea",
    ),
    ("tokenize", None, "text", "Order ZX-4471 shipped", "Hnbfr ZP-7681 wpfzhlg"),
    (
        "tokenize",
        None,
        "text",
        "averyveryverylongidentifierwithmanyletters12345",
        "yiomvimdbvecgucfikkddloapqwzofcyjshkqwlbja26237",
    ),
    ("tokenize", None, "bpchar", "AB12  ", "MK22  "),
    ("tokenize", None, "jsonb", '{"a": "x@y.com", "n": 12}', '{"a": "d@c.omm", "n": 96}'),
    ("fpe", "email", "text", "ada.lovelace123@example.com", "xte.ljzoahvt344@example.com"),
    ("fpe", "card_number", "text", "4000000001047290", "4000096490347290"),
    ("fpe", None, "date", "1987-06-15", "6379-11-04"),
    ("fpe", None, "int8", "9876543210", "7999371714"),
    ("partial", "card_number", "text", "4111 1111 1111 1111", "**** **** **** 1111"),
    ("partial", None, "text", "ada.lovelace@example.com", "***.********@******e.com"),
]


def keyring(key: bytes = KEY1, memo_size: int = 4096) -> Keyring:
    return Keyring(keys={"k1": key}, current="k1", memo_size=memo_size)


@pytest.mark.parametrize(("op", "entity", "type_name", "value", "expected"), PINNED)
def test_tokens_are_pinned(
    op: str, entity: str | None, type_name: str, value: str, expected: str
) -> None:
    ctx = MaskContext(entity=entity, type_name=type_name)
    for kr in (keyring(), keyring(memo_size=0)):
        assert mask(op, value, ctx, kr) == expected
        prepared = prepare(op, ctx, kr)
        assert prepared(value) == expected
        assert prepared(value) == expected  # from the memo, where there is one
        encoded = prepare_encoded(op, ctx, kr)
        assert encoded(value.encode()) == expected.encode()
        assert encoded(value.encode()) == expected.encode()


# -- prepared == value by value -----------------------------------------------------------------

ENTITIES = [None, "person", "email", "phone", "card_number", "iban", "us_ssn", "uk_nino"]
ENTITIES += ["mac_address", "ip_address", "date_of_birth", "address"]
TYPES = ["text", "varchar", "bpchar", "int4", "int8", "numeric", "date", "timestamptz", "uuid"]
TYPES += ["jsonb", "inet", "bool", "bytea"]

values = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30),
    st.text(string.digits + "-. +()", min_size=1, max_size=24),
    st.text(string.ascii_letters + string.digits + ".@-", min_size=1, max_size=40),
    st.integers(-(10**12), 10**12).map(str),
    st.dates().map(str),
)
contexts = st.builds(
    MaskContext,
    entity=st.sampled_from(ENTITIES),
    type_name=st.sampled_from(TYPES),
    max_length=st.one_of(st.none(), st.integers(1, 40)),
)


def outcome(fn: Callable[[], object]) -> object:
    """The result, or the kind of error: a prepared mask must fail exactly where mask fails."""
    try:
        return fn()
    except MaskError as exc:
        return type(exc)
    except ValueError:  # int() of a non-number in a number column, as mask raises it
        return ValueError


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["tokenize", "fpe", "partial", "redact", "null"]),
    contexts,
    st.lists(values, min_size=1, max_size=12),
    st.sampled_from([0, 1, 3, 4096]),
)
def test_prepared_masks_equal_value_by_value(
    op: str, ctx: MaskContext, batch: list[str], memo_size: int
) -> None:
    kr = keyring(memo_size=memo_size)
    reference = keyring(memo_size=0)
    prepared = prepare(op, ctx, kr)
    encoded = prepare_encoded(op, ctx, kr)
    for value in batch + batch[::-1]:  # repeats: served from the memo where one is kept
        expected = outcome(lambda v=value: mask(op, v, ctx, reference))
        assert outcome(lambda v=value: prepared(v)) == expected
        raw = value.encode("utf-8", "surrogateescape")
        got = outcome(lambda r=raw: encoded(r))
        if isinstance(expected, str):
            assert got == expected.encode("utf-8", "surrogateescape")
        else:
            assert got == expected


def test_encoded_masks_carry_undecodable_bytes() -> None:
    ctx = MaskContext(type_name="text")
    kr = keyring()
    raw = b"caf\xe9 ol\xff"  # not UTF-8: PostgreSQL sends what the database holds
    text = raw.decode("utf-8", "surrogateescape")
    expected = mask("tokenize", text, ctx, keyring(memo_size=0))
    assert expected is not None
    assert prepare_encoded("tokenize", ctx, kr)(raw) == expected.encode("utf-8", "surrogateescape")


def test_unknown_operators_fail_when_prepared() -> None:
    with pytest.raises(UnknownOperator):
        prepare("shuffle", MaskContext(), keyring())
    with pytest.raises(UnknownOperator):
        prepare_encoded("shuffle", MaskContext(), keyring())


# -- memos ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("abcde", max_size=3), max_size=60), st.integers(1, 6))
def test_memo_returns_what_the_function_returns(keys: list[str], size: int) -> None:
    calls: Counter[str] = Counter()

    def fn(value: str) -> str | None:
        calls[value] += 1
        return None if value == "" else value[::-1] + "!"

    memoized = memoize(fn, size)
    for value in keys:
        assert memoized(value) == fn(value)
    # Bounded: a value is recomputed once more than 2 * size other values came in between.
    distinct = [f"v{i}" for i in range(2 * size + 2)]
    for value in distinct:
        memoized(value)
    before = calls["v0"]
    memoized("v0")
    assert calls["v0"] == before + 1


def test_memo_stores_no_failure() -> None:
    ctx = MaskContext(type_name="int2")  # int2 has fewer values than FF1's floor
    prepared = prepare("fpe", ctx, keyring())
    for _ in range(3):
        with pytest.raises(DomainTooSmall):
            prepared("12")
    with pytest.raises(ValueError):
        memoize(str, 0)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(string.ascii_lowercase + "@.", min_size=3, max_size=20), max_size=20))
def test_keys_never_share_memo_entries(batch: list[str]) -> None:
    """Two keyrings (even with the same key id) never serve each other's tokens."""
    ctx = MaskContext(entity="email", type_name="text")
    kr1, kr2 = keyring(KEY1), keyring(KEY2)
    p1, p2 = prepare("tokenize", ctx, kr1), prepare("tokenize", ctx, kr2)
    assert p1 is not p2
    ref1, ref2 = keyring(KEY1, memo_size=0), keyring(KEY2, memo_size=0)
    for value in batch + batch:  # interleaved and repeated
        assert p1(value) == mask("tokenize", value, ctx, ref1)
        assert p2(value) == mask("tokenize", value, ctx, ref2)


def test_memos_are_per_key_operator_and_context() -> None:
    kr = keyring()
    email = MaskContext(entity="email", type_name="text")
    assert prepare("tokenize", email, kr) is prepare("tokenize", email, kr)  # shared
    assert prepare("tokenize", email, kr) is not prepare("fpe", email, kr)
    assert prepare("tokenize", email, kr) is not prepare(
        "tokenize", MaskContext(entity="email", type_name="text", max_length=20), kr
    )
    assert prepare("tokenize", email, kr) is not prepare_encoded("tokenize", email, kr)
    rotated = kr.rotated("k2", KEY2)
    assert rotated.memo_size == kr.memo_size
    assert prepare("tokenize", email, rotated) is not prepare("tokenize", email, kr)
    assert prepare("tokenize", email, rotated)("a.b@c.org") != prepare("tokenize", email, kr)(
        "a.b@c.org"
    )
    with pytest.raises(ValueError):
        keyring(memo_size=-1)


def test_memos_per_keyring_are_bounded() -> None:
    kr = keyring()
    for limit in range(1, 200):
        prepare("tokenize", MaskContext(type_name="varchar", max_length=limit), kr)
    memos = kr.memo(("memos", "k1"), dict)
    assert 0 < len(memos) <= 32


# -- caches under the operators -------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 700), st.binary(max_size=20), st.lists(st.integers(0, 10**6), max_size=8))
def test_small_domain_tables_are_the_permutation(n: int, tweak: bytes, xs: list[int]) -> None:
    s = TokenScrambler(KEY1)
    before = [s.permute(n, x % n, tweak) for x in xs]
    for _ in range(16 // n + 2):  # enough uses to build the table
        table = [s.permute(n, x, tweak) for x in range(n)]
    assert (n, tweak) in s._tables
    assert sorted(table) == list(range(n))  # a permutation
    assert [s.permute(n, x % n, tweak) for x in xs] == before
    fresh = TokenScrambler(KEY1)
    assert [fresh._cycle(n, x, tweak) for x in range(n)] == table


def test_ff1_setup_caches_turn_over_without_changing_outputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import wardgate.masking._ff1 as ff1_module

    monkeypatch.setattr(ff1_module, "_CACHE_LIMIT", 3)
    cached, key = FF1(KEY1[:32], 10), KEY1[:32]
    for i in range(40):
        tweak = str(i % 7).encode() * (i % 5)
        n = 6 + i % 9
        x = (i * 7919) % 10**n
        assert cached.encrypt_int(x, n, tweak) == FF1(key, 10).encrypt_int(x, n, tweak)
        y = cached.encrypt_int(x, n, tweak)
        assert cached.decrypt_int(y, n, tweak) == x


def test_format_layouts_turn_over_without_changing_outputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(text_format, "_LAYOUTS", 2)
    s = tokens(keyring())
    words = ["ab.cd12", "x-1", "Q9", "abc", "zz.top", "12-34", "...", "Ab0"] * 3
    outputs = [text_format.generic(w, s) for w in words]
    fresh = [text_format.generic(w, tokens(keyring(memo_size=0))) for w in words]
    assert outputs == fresh
    assert len(s.format_cache) <= 2


# -- the row masker -------------------------------------------------------------------------

TYPE_TABLE = {
    t.oid: t
    for t in (
        TypeInfo(oid=20, name="int8", category="N"),
        TypeInfo(oid=25, name="text", category="S"),
        TypeInfo(oid=1082, name="date", category="D"),
        TypeInfo(oid=1009, name="_text", element=25, category="A"),
        TypeInfo(oid=3802, name="jsonb", category="U"),
    )
}


def actions(binary: bool, operator: str = "tokenize") -> tuple[ColumnAction, ...]:
    def whole(name: str, oid: int, entity: str | None) -> ColumnAction:
        return ColumnAction(
            name=name, mode="whole", type_oid=oid, binary=binary, operator=operator, entity=entity
        )

    return (
        ColumnAction(name="id", mode="pass", type_oid=20, binary=binary),
        whole("email", 25, "email"),
        whole("born", 1082, "date_of_birth"),
        whole("tags", 1009, None),
        whole("doc", 3802, None),
        whole("n", 20, None),
    )


def masker(binary: bool, kr: Keyring, *, prepared: bool, operator: str = "tokenize") -> RowMasker:
    def mask_fn(
        op: str, value: str, entity: str | None, type_name: str, limit: int | None
    ) -> str | None:
        return mask(
            op, value, MaskContext(entity=entity, type_name=type_name, max_length=limit), kr
        )

    def ctx(entity: str | None, type_name: str, limit: int | None) -> MaskContext:
        return MaskContext(entity=entity, type_name=type_name, max_length=limit)

    return RowMasker(
        actions(binary, operator),
        TYPE_TABLE,
        MaskSpec(),
        mask_fn,
        None,  # type: ignore[arg-type]  # no column is scanned
        MaskStats(),
        prepare=(lambda o, e, t, n: prepare(o, ctx(e, t, n), kr)) if prepared else None,
        prepare_encoded=(lambda o, e, t, n: prepare_encoded(o, ctx(e, t, n), kr))
        if prepared
        else None,
    )


TEXT_ROWS = [
    (b"1", b"ada@example.com", b"1990-02-03", b'{a,"b c",NULL}', b'{"k": "v", "n": 1}', b"42"),
    (b"2", None, b"2001-12-31", b"{}", b"[1, 2.5]", None),
    (b"3", b"ada@example.com", b"1990-02-03", b"{x}", b'"s"', b"-7"),
]
BINARY_ROWS = [
    (
        (1).to_bytes(8, "big"),
        b"ada@example.com",
        (-3600).to_bytes(4, "big", signed=True),
        None,
        b"\x01" + b'{"k": "v"}',
        (42).to_bytes(8, "big"),
    ),
    ((2).to_bytes(8, "big"), None, None, None, None, (-7).to_bytes(8, "big", signed=True)),
]


@pytest.mark.parametrize(("binary", "rows"), [(False, TEXT_ROWS), (True, BINARY_ROWS)])
def test_prepared_row_masker_equals_value_by_value(
    binary: bool, rows: list[tuple[bytes | None, ...]]
) -> None:
    kr = keyring()
    fast = masker(binary, kr, prepared=True)
    slow = masker(binary, keyring(memo_size=0), prepared=False)
    for row in rows * 2:
        assert fast.row(row) == slow.row(row)
    assert fast.stats.columns == slow.stats.columns
    assert fast.stats.entities == slow.stats.entities
    assert fast.stats.columns["email"] == 4 if not binary else 2


def test_stats_count_changed_values_until_read() -> None:
    kr = keyring()
    stats = MaskStats()
    maskers = [masker(False, kr, prepared=True) for _ in range(70)]
    for m in maskers:
        m.stats = stats
        m.row(TEXT_ROWS[0])
    assert len(stats._pending) <= 64  # folded as it grew: nobody may ever read them
    assert stats.columns["email"] == 70
    assert stats.entities == Counter({"email": 70, "date_of_birth": 70})
    stats.columns.clear()
    stats.entities.clear()
    maskers[0].row(TEXT_ROWS[1])  # counting again after a read
    assert stats.columns == Counter({"born": 1, "doc": 1})  # "{}" and NULL stay as they are
    other = MaskStats()
    other.merge(stats)
    assert other.columns == stats.columns
    assert "MaskStats(columns=" in repr(other)


def test_columns_that_cannot_be_masked_fail_per_value() -> None:
    kr = keyring()
    bad = masker(False, kr, prepared=True, operator="shuffle")  # unknown: fails closed
    assert bad.row((b"1", None, None, None, None, None)) == (b"1", None, None, None, None, None)
    with pytest.raises(UnknownOperator):
        bad.row(TEXT_ROWS[0])
    with pytest.raises(Unmaskable):
        bad.row((b"1",))
