"""The column planner: every way a sensitive source can reach a result column is masked.

Fields are built the way PostgreSQL describes them (table OID and attribute only for a plain
column reference), lineage comes from the real analyzer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wardgate.masking import Catalog, MaskSpec, plan_columns, strictest
from wardgate.policy._schema import MaskDirective
from wardgate.sql import analyze

CUSTOMERS = 16500
ORDERS = 16600
VIEW = 16700
TEXT, INT4, VARCHAR = 25, 23, 1043


def catalog() -> Catalog:
    rows = [
        (CUSTOMERS, "shop", "customers", "r", 1, "id", INT4, "int4", -1, None),
        (CUSTOMERS, "shop", "customers", "r", 2, "email", TEXT, "text", -1, None),
        (CUSTOMERS, "shop", "customers", "r", 3, "full_name", VARCHAR, "varchar", 84, None),
        (CUSTOMERS, "shop", "customers", "r", 4, "notes", TEXT, "text", -1, None),
        (ORDERS, "shop", "orders", "r", 1, "id", INT4, "int4", -1, None),
        (ORDERS, "shop", "orders", "r", 2, "customer_id", INT4, "int4", -1, None),
        (VIEW, "shop", "contacts", "v", 1, "contact", TEXT, "text", -1, None),
    ]
    cat = Catalog.build(
        [tuple(None if v is None else str(v) for v in r) for r in rows],
        [("25", "text", "b", "0", "0", "S"), ("23", "int4", "b", "0", "0", "N")],
        [],
    )
    # what the classifier would have said about full_name
    cat.classify(
        lambda table, column, *_: ("person", "name") if column == "full_name" else None, {}
    )
    return cat


@dataclass(frozen=True)
class Field:
    name: str
    type_oid: int = TEXT
    table_oid: int = 0
    column_attr: int = 0
    format: int = 0


COLUMNS_ONLY = MaskSpec.of([MaskDirective(columns=("shop.customers.email",), operator="tokenize")])
WITH_ENTITIES = MaskSpec.of(
    [
        MaskDirective(columns=("*.customers.email",), operator="tokenize"),
        MaskDirective(entities=("person", "email"), operator="redact"),
    ]
)


def plan(sql: str, fields: list[Field], spec: MaskSpec = WITH_ENTITIES) -> list[tuple[str, str]]:
    (st,) = analyze(sql).statements
    actions = plan_columns(fields, st.columns, spec, catalog(), reads_sensitive=True)
    return [(a.mode, a.operator or "") for a in actions]


def test_plain_reference_uses_the_row_description() -> None:
    got = plan(
        "SELECT email, id, full_name FROM shop.customers",
        [
            Field("email", TEXT, CUSTOMERS, 2),
            Field("id", INT4, CUSTOMERS, 1),
            Field("full_name", VARCHAR, CUSTOMERS, 3),
        ],
    )
    assert got == [("whole", "tokenize"), ("pass", ""), ("whole", "redact")]


def test_whole_mask_keeps_the_type_limit_of_a_plain_reference() -> None:
    (st,) = analyze("SELECT full_name FROM customers").statements
    (action,) = plan_columns(
        [Field("full_name", VARCHAR, CUSTOMERS, 3)],
        st.columns,
        WITH_ENTITIES,
        catalog(),
        reads_sensitive=True,
    )
    assert action.max_length == 80 and action.entity == "person"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT upper(email) FROM customers",
        "SELECT email || '' FROM customers",
        "SELECT x FROM (SELECT lower(email) AS x FROM customers) s",
        "WITH c AS (SELECT email FROM customers) SELECT replace(email, '@', ' at ') FROM c",
        "SELECT string_agg(email, ',') FROM customers",
        "SELECT (SELECT email FROM customers LIMIT 1)",
        "SELECT coalesce(notes, email) FROM customers",
        "SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM customers",
        "SELECT row_to_json(c) FROM customers c",
    ],
)
def test_computed_from_a_sensitive_source_is_masked_whole(sql: str) -> None:
    assert plan(sql, [Field("x")], COLUMNS_ONLY) == [("whole", "tokenize")]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(email) FROM customers",
        "SELECT length(email) FROM customers",
        "SELECT email IS NULL FROM customers",
        "SELECT id FROM shop.orders",
    ],
)
def test_value_blind_expressions_pass(sql: str) -> None:
    assert plan(sql, [Field("x", INT4)], COLUMNS_ONLY) == [("pass", "")]


def test_star_is_expanded_with_the_catalog() -> None:
    got = plan(
        "SELECT 1 AS one, * FROM customers",
        [Field("one", INT4), Field("id", INT4), Field("email"), Field("full_name"), Field("notes")],
    )
    assert got == [("pass", ""), ("pass", ""), ("whole", "tokenize"), ("whole", "redact"),
                   ("scan", "")]  # fmt: skip


def test_views_and_unknown_tables_are_masked_whole() -> None:
    # A view or a table the catalog does not know may carry any source value in any disguise:
    # detectors cannot vouch for it, so the strictest operator of the policy masks it whole.
    fields = [Field("contact", TEXT, VIEW, 1)]
    assert plan("SELECT contact FROM contacts", fields) == [("whole", "redact")]
    assert plan("SELECT contact FROM contacts", fields, COLUMNS_ONLY) == [("whole", "tokenize")]
    unknown = [Field("a", TEXT, 99999, 1)]
    assert plan("SELECT a FROM elsewhere", unknown) == [("whole", "redact")]
    assert plan("SELECT a FROM elsewhere", [Field("a")]) == [("whole", "redact")]


def test_unknown_provenance_is_scanned_only_when_nothing_sensitive_is_read() -> None:
    (st,) = analyze("SELECT upper(id::text) FROM shop.orders").statements
    (action,) = plan_columns(
        [Field("f")], st.columns, WITH_ENTITIES, catalog(), reads_sensitive=False
    )
    assert action.mode == "scan"
    (action,) = plan_columns(
        [Field("f")], st.columns, WITH_ENTITIES, catalog(), reads_sensitive=True
    )
    assert action.mode == "whole"


def test_column_count_mismatch_falls_back_to_unknown_provenance() -> None:
    (st,) = analyze("SELECT * FROM nowhere").statements
    actions = plan_columns(
        [Field("a"), Field("b")], st.columns, COLUMNS_ONLY, catalog(), reads_sensitive=True
    )
    assert [a.mode for a in actions] == ["whole", "whole"]


def test_no_lineage_passes_only_when_nothing_sensitive_is_read() -> None:
    actions = plan_columns([Field("a")], None, COLUMNS_ONLY, catalog(), reads_sensitive=False)
    assert actions[0].mode == "pass"
    actions = plan_columns([Field("a")], None, COLUMNS_ONLY, catalog(), reads_sensitive=True)
    assert actions[0].mode == "whole"


def test_binary_format_is_carried_to_the_action() -> None:
    (st,) = analyze("SELECT email FROM customers").statements
    (action,) = plan_columns(
        [Field("email", TEXT, CUSTOMERS, 2, format=1)],
        st.columns,
        COLUMNS_ONLY,
        catalog(),
        reads_sensitive=True,
    )
    assert action.binary and action.mode == "whole"


def test_strictest_operator_wins() -> None:
    assert strictest(["tokenize", "partial", "fpe"]) == "partial"
    assert strictest(["redact", "null"]) == "null"
    spec = MaskSpec.of(
        [
            MaskDirective(columns=("email",), operator="tokenize"),
            MaskDirective(columns=("customers.*",), operator="redact"),
        ]
    )
    assert plan("SELECT email FROM customers", [Field("email", TEXT, CUSTOMERS, 2)], spec) == [
        ("whole", "redact")
    ]


def test_entity_directives_scan_free_text_but_not_constants() -> None:
    fields = [Field("notes", TEXT, CUSTOMERS, 4), Field("label"), Field("id", INT4, CUSTOMERS, 1)]
    sql = "SELECT notes, 'fixed' AS label, id FROM customers"
    assert plan(sql, fields) == [("scan", ""), ("pass", ""), ("pass", "")]
    assert plan(sql, fields, COLUMNS_ONLY) == [("pass", ""), ("pass", ""), ("pass", "")]


@dataclass(frozen=True)
class Pin:
    columns: tuple[str, ...]
    entity: str | None


def test_policy_pins_override_the_classifier() -> None:
    directives = [
        MaskDirective(entities=("person", "email"), operator="redact"),
        MaskDirective(columns=("shop.customers.email",), operator="tokenize"),
    ]
    fields = [
        Field("full_name", VARCHAR, CUSTOMERS, 3),
        Field("notes", TEXT, CUSTOMERS, 4),
        Field("email", TEXT, CUSTOMERS, 2),
    ]
    sql = "SELECT full_name, notes, email FROM customers"
    # unpinned: the classifier's person column is masked, free text is scanned
    assert plan(sql, fields, MaskSpec.of(directives)) == [
        ("whole", "redact"), ("scan", ""), ("whole", "tokenize")
    ]  # fmt: skip
    pins = [
        Pin(("customers.full_name", "*.notes"), None),  # not sensitive: neither masked nor scanned
        Pin(("shop.customers.email",), None),  # a directive naming the column still wins
    ]
    assert plan(sql, fields, MaskSpec.of(directives, pins)) == [
        ("pass", ""), ("pass", ""), ("whole", "tokenize")
    ]  # fmt: skip
    as_email = [Pin(("customers.notes",), "email")]
    assert plan(sql, fields, MaskSpec.of(directives, as_email))[1] == ("whole", "redact")


def test_view_columns_are_planned_through_the_views_query() -> None:
    from wardgate.masking import ViewColumn, ViewInfo

    cat = catalog()
    src = frozenset
    cat.views[VIEW] = ViewInfo(
        columns={1: ViewColumn("contact", src({("shop", "customers", "email")}), True, True)},
        reads=(("shop", "customers"),),
        opaque=False,
    )
    (action,) = plan_columns(
        [Field("contact", TEXT, VIEW, 1)], None, COLUMNS_ONLY, cat, reads_sensitive=True
    )
    assert (action.mode, action.operator) == ("whole", "tokenize")
    # a view column fed only by a non-sensitive column passes
    cat.views[VIEW] = ViewInfo(
        columns={1: ViewColumn("contact", src({("shop", "orders", "id")}), True, True)},
        reads=(("shop", "orders"),),
        opaque=False,
    )
    (action,) = plan_columns(
        [Field("contact", TEXT, VIEW, 1)], None, COLUMNS_ONLY, cat, reads_sensitive=True
    )
    assert action.mode == "pass"
    # an opaque view stays of unknown provenance: masked whole
    cat.views[VIEW] = ViewInfo(columns={}, reads=(), opaque=True)
    (action,) = plan_columns(
        [Field("contact", TEXT, VIEW, 1)], None, COLUMNS_ONLY, cat, reads_sensitive=True
    )
    assert action.mode == "whole"
