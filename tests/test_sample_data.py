"""The demo shop loads into a real server and its PII passes the validators real data would.

Card and IBAN checks are re-implemented here rather than imported, so a bug shared by generator and
validator cannot hide itself.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardgate.demo.sample_data import is_iban_valid, is_luhn_valid, shop_schema_sql, sql_literal
from wardgate.devdb import EmbeddedPostgres

CUSTOMERS = 200
EMAIL = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")
EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}")
PHONE_IN_TEXT = re.compile(r"\+?\(?\d[\d ().x-]{6,}\d")
NAME_IN_TEXT = re.compile(r"\b[A-Z][a-zà-ÿ]+(-[A-Z][a-zà-ÿ]+)? [A-Z][A-Za-zà-ÿ'-]+")
IBAN_LENGTHS = {"DE": 22, "GB": 22, "NL": 18}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def iban_ok(iban: str) -> bool:
    rotated = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


@pytest.fixture(scope="module")
def shop() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with EmbeddedPostgres(settings={"fsync": "off"}) as pg:
        pg.run_sql("create database shop")
        pg.run_sql(shop_schema_sql(customers=CUSTOMERS), database="shop")
        with psycopg.connect(pg.instance.dsn("shop"), autocommit=True) as conn:
            yield conn


def column(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> list[str]:
    return [str(row[0]) for row in conn.execute(sql).fetchall()]


def test_row_counts_and_referential_sanity(shop: psycopg.Connection[tuple[object, ...]]) -> None:
    tables = column(
        shop, "select table_name from information_schema.tables where table_schema = 'shop'"
    )
    exact = {
        t: column(shop, f"select count(*) from shop.{t}")[0]
        for t in ("customers", "products", "orders", "order_items", "api_tokens", "support_tickets")
    }
    assert set(tables) == set(exact)
    assert exact["customers"] == str(CUSTOMERS)
    assert int(exact["products"]) >= 10
    assert int(exact["orders"]) > CUSTOMERS  # 0..5 per customer
    assert int(exact["order_items"]) > int(exact["orders"])
    assert int(exact["api_tokens"]) > 0 and int(exact["support_tickets"]) > 0
    mismatched = shop.execute(
        "select count(*) from shop.orders o where o.total <> "
        "(select sum(quantity * unit_price) from shop.order_items i where i.order_id = o.id)"
    ).fetchone()
    assert mismatched == (0,)
    # identities were moved past the explicit ids, so the app can insert without conflicts
    new_id = shop.execute(
        "insert into shop.products (sku, name, category, price) "
        "values ('SKU-NEW', 'New', 'home', 1) returning id"
    ).fetchone()
    assert new_id is not None and new_id[0] == int(exact["products"]) + 1


def test_card_numbers_are_luhn_valid(shop: psycopg.Connection[tuple[object, ...]]) -> None:
    cards = column(shop, "select card_number from shop.customers")
    assert len(cards) == CUSTOMERS
    for card in cards:
        assert re.fullmatch(r"(4|5[1-5])\d{14,15}", card) and len(card) == 16, card
        assert luhn_ok(card), card
        assert is_luhn_valid(card)
    assert len(set(cards)) > CUSTOMERS * 0.99


def test_ibans_are_mod97_valid(shop: psycopg.Connection[tuple[object, ...]]) -> None:
    ibans = column(shop, "select iban from shop.customers")
    assert {iban[:2] for iban in ibans} >= {"DE", "GB"}
    for iban in ibans:
        assert len(iban) == IBAN_LENGTHS[iban[:2]], iban
        assert iban_ok(iban), iban
        assert is_iban_valid(iban)
    tampered = ibans[0][:-1] + str((int(ibans[0][-1]) + 1) % 10)
    assert not iban_ok(tampered) and not is_iban_valid(tampered)


def test_validators_reject_near_misses() -> None:
    assert is_luhn_valid("4539 1488 0343 6467")
    assert not is_luhn_valid("4539148803436468")
    assert not is_luhn_valid("not a number")
    assert is_iban_valid("GB82 WEST 1234 5698 7654 32")  # the ISO 13616 example
    assert not is_iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not is_iban_valid("ÄÄ82")


def test_ssns_look_valid(shop: psycopg.Connection[tuple[object, ...]]) -> None:
    for ssn in column(shop, "select national_id from shop.customers"):
        match = re.fullmatch(r"(\d{3})-(\d{2})-(\d{4})", ssn)
        assert match, ssn
        area, group, serial = match.groups()
        assert area not in {"000", "666"} and not area.startswith("9"), ssn
        assert group != "00" and serial != "0000", ssn


def test_emails_are_well_formed_and_unique(shop: psycopg.Connection[tuple[object, ...]]) -> None:
    emails = column(shop, "select email from shop.customers")
    assert all(EMAIL.fullmatch(e) for e in emails), [e for e in emails if not EMAIL.fullmatch(e)]
    assert len(set(emails)) == len(emails)


def test_free_text_embeds_pii(shop: psycopg.Connection[tuple[object, ...]]) -> None:
    for note in column(shop, "select notes from shop.customers"):
        assert EMAIL_IN_TEXT.search(note), note
        assert PHONE_IN_TEXT.search(note), note
        assert NAME_IN_TEXT.search(note), note
    bodies = " ".join(column(shop, "select body from shop.support_tickets"))
    assert EMAIL_IN_TEXT.search(bodies) and PHONE_IN_TEXT.search(bodies)


def test_tokens_look_like_vendor_secrets(shop: psycopg.Connection[tuple[object, ...]]) -> None:
    tokens = column(shop, "select token from shop.api_tokens")
    stripe = [t for t in tokens if re.fullmatch(r"sk_live_[A-Za-z0-9]{24}", t)]
    github = [t for t in tokens if re.fullmatch(r"ghp_[A-Za-z0-9]{36}", t)]
    assert stripe and github and len(stripe) + len(github) == len(tokens)


def test_same_seed_same_sql() -> None:
    assert shop_schema_sql(customers=40, seed=3) == shop_schema_sql(customers=40, seed=3)
    assert shop_schema_sql(customers=40, seed=3) != shop_schema_sql(customers=40, seed=4)
    assert shop_schema_sql() == shop_schema_sql(customers=CUSTOMERS, seed=7)


def test_empty_shop_is_still_valid_sql() -> None:
    sql = shop_schema_sql(customers=0)
    assert "INSERT INTO shop.customers" not in sql and sql.rstrip().endswith("COMMIT;")


def test_sql_literal_rendering() -> None:
    assert sql_literal("it's") == "'it''s'"
    assert sql_literal("C:\\temp") == "E'C:\\\\temp'"
    assert sql_literal("a\\'b") == "E'a\\\\''b'"
    assert sql_literal(None) == "NULL"
    assert sql_literal(True) == "TRUE"
    assert sql_literal(42) == "42"
    assert sql_literal(Decimal("1E+2")) == "100"
    assert sql_literal(dt.date(2024, 2, 29)) == "'2024-02-29'::date"
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert sql_literal(stamp) == "'2024-01-02 03:04:05+00:00'::timestamptz"
    with pytest.raises(ValueError, match="NUL"):
        sql_literal("a\x00b")
    with pytest.raises(ValueError, match="naive"):
        sql_literal(dt.datetime(2024, 1, 1))


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
)
def test_sql_literal_round_trips(shop: psycopg.Connection[tuple[object, ...]], text: str) -> None:
    for conforming in ("on", "off"):
        shop.execute(f"set standard_conforming_strings = {conforming}")
        assert shop.execute(f"select {sql_literal(text)}").fetchone() == (text,)
    shop.execute("reset standard_conforming_strings")
