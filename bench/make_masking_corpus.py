"""Generate the labelled masking corpus, ``bench/data/masking_corpus.jsonl``, reproducibly.

Positives come from generators that know nothing of Wardgate's detectors: Faker's providers in
eight locales (names, emails, phones, cards, IBANs, SSNs, national ids, IPs, MACs, dates,
addresses), the US census name lists of the ``names`` package (a held-out name source: Wardgate's
gazetteer is built from Faker's lists, so Faker names alone would flatter it), ``cryptography``
for private keys, and the documented vendor formats for tokens (random characters in the
documented alphabet and length). The one spec-based generator for an identifier is UK NINO:
Faker only emits the never-issued ``ZZ`` prefix.

Each record: ``{"text", "column", "spans": [[start, end, entity]], "kind", "source"}``. ``kind``
is ``bare`` (a whole column value, with a column name a schema would plausibly use), ``context``
(a sentence with a context word), ``plain`` (a sentence without one), ``mixed`` (two entities in
a note) or ``negative``. The last ~840 negatives (`more_negatives`: IMEIs, barcodes, Luhn-valid
references, spaced dates and amounts, coordinates...) were added later, from generators of their
own, so every earlier record is unchanged for a given seed. Usage:

    python bench/make_masking_corpus.py [--per-entity 160] [--seed 20240601]

Needs Faker, cryptography and ``names`` (``pip install names``), only to regenerate.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import string
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import names  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from faker import Faker

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "ja_JP"]
OUT = Path(__file__).parent / "data" / "masking_corpus.jsonl"
Record = dict[str, Any]
Gen = Callable[[random.Random], str]

# Sentences around a value. {v} is replaced; the label covers exactly the inserted value.
CONTEXT: dict[str, list[str]] = {
    "person": ["Dear {v}, your order has shipped.", "Patient name: {v}", "Signed by {v} on Monday.",
               "Please call {v} back tomorrow.", "Meeting with {v} about the renewal."],
    "email": ["Contact me at {v} any time.", "email: {v}", "Send the invoice to {v} please."],
    "phone": ["Call me on {v} after 5pm.", "Phone: {v}", "Mobile {v} (evenings)",
              "Tel. {v}"],
    "card_number": ["Card number {v} exp 09/27", "Paid with credit card {v}.",
                    "cc: {v}"],
    "iban": ["IBAN: {v}", "Please transfer to IBAN {v} by Friday.", "Bank account {v}"],
    "us_ssn": ["SSN: {v}", "Social security number {v} on file.", "ssn {v}"],
    "uk_nino": ["NI number {v}", "National Insurance: {v}", "NINO {v} verified"],
    "national_id": ["Tax ID {v}", "National ID: {v}", "ID number {v} checked at the desk"],
    "ip_address": ["Login from IP {v} blocked.", "client ip={v}", "Server address {v}"],
    "mac_address": ["MAC address {v}", "Device mac {v} joined the network."],
    "date_of_birth": ["Date of birth: {v}", "DOB {v}", "born {v} in Leeds", "Birthday: {v}"],
    "address": ["Ship to {v}.", "Address: {v}", "She lives at {v}."],
    "medical_record": ["MRN: {v}", "Medical record number {v} updated.", "patient id {v}"],
    "aws_access_key": ["aws_access_key_id = {v}", "Access key {v} was rotated."],
    "aws_secret_key": ["aws_secret_access_key = {v}", "AWS secret: {v}"],
    "gcp_api_key": ["key={v}", "Maps API key {v}"],
    "github_token": ["GITHUB_TOKEN={v}", "token: {v}"],
    "gitlab_token": ["GITLAB_TOKEN={v}", "Use {v} for the CI job."],
    "slack_token": ["SLACK_BOT_TOKEN={v}", "webhook {v}"],
    "stripe_key": ["STRIPE_SECRET_KEY={v}", "stripe key {v}"],
    "jwt": ["Authorization: Bearer {v}", "token={v}"],
    "private_key": ["key:\n{v}\n", "{v}"],
    "gcp_service_account_key": ["{v}"],
    "connection_string": ["DATABASE_URL={v}", "connect with {v}", "dsn: {v}"],
    "high_entropy_token": ["api_key: {v}", "Authorization token {v}", "secret={v}"],
    "password": ["password: {v}", "Your temporary password is: {v}"],
}  # fmt: skip
PLAIN = ["{v}", "Updated {v} yesterday.", "See {v} for details.", "{v} (from the import)"]
#: entities that are only the entity with context: no plain sentences for them
CONTEXT_ONLY = {"date_of_birth", "medical_record", "aws_secret_key", "password", "national_id"}
#: a column name a schema would plausibly give each entity's bare values
COLUMNS: dict[str, list[str]] = {
    "person": ["full_name", "customer_name", "contact_name"],
    "email": ["email", "contact_email", "email_address"],
    "phone": ["phone", "mobile_number", "telephone"],
    "card_number": ["card_number", "cc_number", "pan"],
    "iban": ["iban", "bank_account_iban"],
    "us_ssn": ["ssn", "social_security_number"],
    "uk_nino": ["nino", "ni_number"],
    "national_id": ["national_id", "tax_id"],
    "ip_address": ["ip_address", "client_ip", "last_login_ip"],
    "mac_address": ["mac_address", "device_mac"],
    "date_of_birth": ["date_of_birth", "dob", "birth_date"],
    "address": ["address", "street_address", "shipping_address"],
    "medical_record": ["mrn", "medical_record_number"],
    "aws_access_key": ["aws_access_key_id", "access_key"],
    "aws_secret_key": ["aws_secret_access_key"],
    "gcp_api_key": ["api_key", "maps_key"],
    "github_token": ["github_token", "token"],
    "gitlab_token": ["gitlab_token", "ci_token"],
    "slack_token": ["slack_token", "webhook_url"],
    "stripe_key": ["stripe_key", "secret_key"],
    "jwt": ["session_token", "jwt"],
    "private_key": ["private_key", "ssh_key"],
    "gcp_service_account_key": ["service_account_json"],
    "connection_string": ["database_url", "dsn"],
    "high_entropy_token": ["api_token", "client_secret", "access_token"],
    "password": ["password"],
}


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits


def _seeded_key(rng: random.Random) -> Any:
    """An EC (P-256/P-384) or Ed25519 key from the seeded generator, so the corpus reproduces.

    RSA keys cannot be derived from a seed through ``cryptography``; their PEM framing is the
    same, so leaving them out costs the corpus nothing a detector could notice.
    """
    kind = rng.choice(["p256", "p384", "ed25519"])
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    curve: ec.EllipticCurve = ec.SECP256R1() if kind == "p256" else ec.SECP384R1()
    return ec.derive_private_key(rng.randint(1, 2**250), curve)


def _seeded_checkint(pem: str, rng: random.Random) -> str:
    """Replace the random check integers of an OpenSSH key with seeded ones (reproducibility)."""
    lines = pem.splitlines()
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    pos = len(b"openssh-key-v1\0")
    for _ in range(3):  # cipher name, kdf name, kdf options
        pos += 4 + int.from_bytes(blob[pos : pos + 4], "big")
    pos += 4  # number of keys
    pos += 4 + int.from_bytes(blob[pos : pos + 4], "big")  # public key
    pos += 4  # length of the private section
    check = rng.randbytes(4)
    blob[pos : pos + 8] = check + check
    body = base64.b64encode(bytes(blob)).decode()
    return "\n".join([lines[0], *(body[i : i + 70] for i in range(0, len(body), 70)), lines[-1]])


class Generators:
    """Value generators per entity; each takes the shared ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed + i)
        extra = ["pl_PL", "fi_FI", "sv_SE", "de_CH"]
        self.ids = {loc: Faker(loc) for loc in extra}
        for i, f in enumerate(self.ids.values()):
            f.seed_instance(seed + 100 + i)

    def faker(self, rng: random.Random, locales: list[str] | None = None) -> Faker:
        return self.fakers[rng.choice(locales or LOCALES)]

    def person(self, rng: random.Random) -> tuple[str, str]:
        if rng.random() < 0.3:
            random.seed(rng.random())  # `names` draws from the global generator
            return names.get_full_name(), "census"
        f = self.faker(rng)
        if rng.random() < 0.5:
            return f"{f.first_name()} {f.last_name()}", f"faker:{f._locales[0]}"
        return f.name(), f"faker:{f._locales[0]}"

    def email(self, rng: random.Random) -> str:
        f = self.faker(rng)
        return rng.choice([f.email, f.free_email, f.company_email, f.ascii_safe_email])()

    def phone(self, rng: random.Random) -> str:
        return str(self.faker(rng).phone_number())

    def card_number(self, rng: random.Random) -> str:
        f = self.faker(rng)
        kind = rng.choice(["visa16", "mastercard", "amex", "discover", "jcb16", "diners",
                           "maestro", "visa19", "jcb15"])  # fmt: skip
        number = str(f.credit_card_number(card_type=kind))
        style = rng.random()
        if style < 0.3:
            groups = [4, 6, 5] if len(number) == 15 else [4] * (len(number) // 4 + 1)
            out, i = [], 0
            for g in groups:
                if i < len(number):
                    out.append(number[i : i + g])
                    i += g
            return rng.choice([" ", "-"]).join(out)
        return number

    def iban(self, rng: random.Random) -> str:
        f = self.faker(rng, ["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"])
        value = str(f.iban())
        if rng.random() < 0.4:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def us_ssn(self, rng: random.Random) -> str:
        return str(self.fakers["en_US"].ssn())

    def uk_nino(self, rng: random.Random) -> str:
        first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
        while first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
        d = _rand(rng, string.digits, 6)
        suffix = rng.choice("ABCD")
        if rng.random() < 0.5:
            return f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {suffix}"
        return f"{first}{second}{d}{suffix}"

    def national_id(self, rng: random.Random) -> tuple[str, str]:
        kind = rng.choice(["fr", "it", "nl", "es_dni", "es_nie", "pl", "fi", "se", "ch"])
        source = {
            "fr": lambda: self.fakers["fr_FR"].ssn(),
            "it": lambda: self.fakers["it_IT"].ssn(),
            "nl": lambda: self.fakers["nl_NL"].ssn(),
            "es_dni": lambda: self.fakers["es_ES"].nif(),
            "es_nie": lambda: self.fakers["es_ES"].nie(),
            "pl": lambda: self.ids["pl_PL"].pesel(),
            "fi": lambda: self.ids["fi_FI"].ssn(),
            "se": lambda: self.ids["sv_SE"].ssn(),
            "ch": lambda: self.ids["de_CH"].ssn(),
        }[kind]
        return str(source()), f"national_id:{kind}"  # type: ignore[no-untyped-call]

    def ip_address(self, rng: random.Random) -> str:
        f = self.faker(rng)
        return str(rng.choice([f.ipv4, f.ipv4_private, f.ipv4_public, f.ipv6])())

    def mac_address(self, rng: random.Random) -> str:
        mac = str(self.faker(rng).mac_address())
        r = rng.random()
        if r < 0.3:
            return mac.upper()
        if r < 0.5:
            return mac.replace(":", "-")
        return mac

    def date_of_birth(self, rng: random.Random) -> str:
        f = self.faker(rng)
        d = f.date_between(start_date=dt.date(1930, 1, 1), end_date=dt.date(2020, 12, 31))
        fmt = rng.choice(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%B %d, %Y", "%d %B %Y"])
        return d.strftime(fmt)

    def address(self, rng: random.Random) -> tuple[str, str]:
        f = self.faker(rng)
        value = rng.choice([f.address, f.street_address])()
        return str(value), f"faker:{f._locales[0]}"

    def medical_record(self, rng: random.Random) -> str:
        n = rng.randint(6, 10)
        prefix = rng.choice(["", "", "MR", "H"])
        return prefix + _rand(rng, string.digits, n)

    def aws_access_key(self, rng: random.Random) -> str:
        return rng.choice(["AKIA", "ASIA"]) + _rand(rng, string.ascii_uppercase + "234567", 16)

    def aws_secret_key(self, rng: random.Random) -> str:
        return _rand(rng, ALNUM + "+/", 40)

    def gcp_api_key(self, rng: random.Random) -> str:
        return "AIza" + _rand(rng, ALNUM + "-_", 35)

    def github_token(self, rng: random.Random) -> str:
        if rng.random() < 0.2:
            return f"github_pat_{_rand(rng, ALNUM, 22)}_{_rand(rng, ALNUM, 59)}"
        return rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + _rand(rng, ALNUM, 36)

    def gitlab_token(self, rng: random.Random) -> str:
        return "glpat-" + _rand(rng, ALNUM + "-_", 20)

    def slack_token(self, rng: random.Random) -> str:
        if rng.random() < 0.3:
            upper = string.ascii_uppercase + string.digits
            team, bot, secret = _rand(rng, upper, 8), _rand(rng, upper, 10), _rand(rng, ALNUM, 24)
            return f"https://hooks.slack.com/services/T{team}/B{bot}/{secret}"
        kind = rng.choice(["xoxb", "xoxp", "xoxa", "xoxr"])
        ids = f"{_rand(rng, string.digits, 12)}-{_rand(rng, string.digits, 13)}"
        return f"{kind}-{ids}-{_rand(rng, ALNUM, 24)}"

    def stripe_key(self, rng: random.Random) -> str:
        prefix = rng.choice(["sk_live_", "rk_live_", "sk_test_", "pk_live_"])
        return prefix + _rand(rng, ALNUM, rng.choice([24, 99]))

    def jwt(self, rng: random.Random) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        f = self.faker(rng)
        header = {"alg": rng.choice(["HS256", "HS512"]), "typ": "JWT"}
        payload = {
            "sub": str(f.uuid4()),
            "name": f.name(),
            "iat": rng.randint(1_500_000_000, 1_800_000_000),
        }
        signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
        sig = hmac.new(rng.randbytes(32), signing.encode(), hashlib.sha256).digest()
        return f"{signing}.{b64(sig)}"

    def private_key(self, rng: random.Random) -> str:
        key = _seeded_key(rng)
        fmt = rng.choice([serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.OpenSSH])
        if isinstance(key, ec.EllipticCurvePrivateKey) and rng.random() < 0.3:
            fmt = serialization.PrivateFormat.TraditionalOpenSSL
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        text = str(pem.decode()).strip()
        if fmt is serialization.PrivateFormat.OpenSSH:
            text = _seeded_checkint(text, rng)
        if rng.random() < 0.2:  # cut short, as in a preview column
            text = text[: rng.randint(60, len(text) - 40)]
        return text

    def gcp_service_account_key(self, rng: random.Random) -> str:
        key = _seeded_key(rng)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return json.dumps({"type": "service_account", "project_id": "demo-123",
                           "private_key_id": _rand(rng, "0123456789abcdef", 40),
                           "private_key": pem}, indent=rng.choice([None, 2]))  # fmt: skip

    def connection_string(self, rng: random.Random) -> str:
        f = self.faker(rng, ["en_US", "en_GB", "de_DE"])
        user, pw, host = f.user_name(), f.password(length=rng.randint(8, 20)), f.hostname()
        pw_url = pw.replace("%", "%25").replace("@", "%40").replace("/", "%2F").replace(":", "%3A")
        pw_url = pw_url.replace("#", "%23").replace("?", "%3F").replace("&", "%26")
        db = f.word()
        form = rng.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp",
                           "jdbc", "odbc", "libpq"])  # fmt: skip
        if form == "jdbc":
            return f"jdbc:postgresql://{host}:5432/{db}?user={user}&password={pw_url}"
        if form == "odbc":
            pw_odbc = pw.replace(";", "")
            return (f"Driver={{ODBC Driver 18 for SQL Server}};Server={host};Database={db};"
                    f"Uid={user};Pwd={pw_odbc};")  # fmt: skip
        if form == "libpq":
            pw_kv = pw.replace(" ", "").replace("'", "")
            return f"host={host} port=5432 dbname={db} user={user} password={pw_kv}"
        port = {"postgres": 5432, "postgresql": 5432, "mysql": 3306, "redis": 6379, "amqp": 5672}
        hostport = host if form == "mongodb+srv" else f"{host}:{port[form]}"
        return f"{form}://{user}:{pw_url}@{hostport}/{db}"

    def high_entropy_token(self, rng: random.Random) -> str:
        kind = rng.random()
        if kind < 0.4:
            return base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
        if kind < 0.7:
            return _rand(rng, ALNUM, rng.choice([32, 40, 48]))
        return base64.b64encode(rng.randbytes(rng.choice([24, 30, 33]))).decode()

    def password(self, rng: random.Random) -> str:
        return str(self.faker(rng).password(length=rng.randint(10, 18)))


def negatives(g: Generators, rng: random.Random) -> list[tuple[str, str | None, str]]:
    """(text, column, source) hard negatives: ids, hashes, dates, numbers, ordinary words."""
    out: list[tuple[str, str | None, str]] = []
    f = g.fakers["en_US"]

    def add(text: str, column: str | None, source: str) -> None:
        out.append((text, column, source))

    for _ in range(60):
        add(str(uuid.UUID(int=rng.getrandbits(128), version=4)), "id", "uuid")
        add(hashlib.md5(rng.randbytes(16)).hexdigest(), "checksum", "md5")
        add(hashlib.sha1(rng.randbytes(16)).hexdigest(), "commit", "sha1")
        add(hashlib.sha256(rng.randbytes(16)).hexdigest(), "digest", "sha256")
        add(
            f"Merged commit {hashlib.sha1(rng.randbytes(8)).hexdigest()[:7]} into main", None, "git"
        )
        add(str(rng.randint(10_000_000, 99_999_999)), "order_no", "order number")
        add(f"Order #{rng.randint(100000, 9999999)} shipped", None, "order number")
        add(f"ORD-{rng.randint(2019, 2025)}-{rng.randint(0, 999999):06d}", "reference", "order ref")
        add(
            f"Invoice {rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            None,
            "invoice",
        )
        add(f"INV-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}", "invoice_no", "invoice")
        d = f.date_time_between(
            start_date=dt.datetime(2019, 1, 1), end_date=dt.datetime(2025, 1, 1)
        )
        add(d.isoformat() + "Z", "created_at", "timestamp")
        add(d.strftime("%Y-%m-%d %H:%M:%S"), "updated_at", "timestamp")
        add(str(int(d.timestamp())), "epoch", "unix time")
        add(f"Shipped on {d.strftime('%Y-%m-%d')}", None, "iso date")
        add(d.strftime("%d/%m/%Y"), "delivery_date", "date")
        add(f"Meeting on {d.strftime('%B %d, %Y')} at 10am", None, "date text")
        bad = str(f.credit_card_number(card_type="visa16"))
        bad = bad[:-1] + str((int(bad[-1]) + rng.randint(1, 9)) % 10)
        add(bad, "reference", "luhn-failing 16 digits")
        add(str(f.ean13()), "barcode", "ean13")
        add(str(f.ean8()), "barcode", "ean8")
        add(str(f.upc_a()), "upc", "upc-a")
        add(str(f.isbn13()), "isbn", "isbn13")
        v = f"{rng.randint(1, 12)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 999)}"
        add(f"version {v}", None, "version")
        add(f"v{v}", "build", "version")
        add(f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 30)}", "version", "semver")
        words = " ".join(f.words(rng.randint(2, 6)))
        add(base64.b64encode(words.encode()).decode(), "payload", "base64 words")
        add(f"${rng.randint(1, 99999):,}.{rng.randint(0, 99):02d}", "price", "price")
        add(f"SKU-{rng.randint(10000, 99999)}-{rng.choice(['S', 'M', 'L', 'XL'])}", "sku", "sku")
        add(f.sentence(nb_words=rng.randint(6, 14)), "notes", "lorem")
        add(f.catch_phrase(), "tagline", "catch phrase")
        add(f.company(), "company", "company")
        add(f"{f.city()}, {f.country()}", "location", "city")
        add(f.street_name(), "street_name_only", "street name")
        add(f.job(), "job_title", "job")
        add(f"https://{f.domain_name()}/{f.uri_path()}?page={rng.randint(1, 50)}", "url", "url")
        add(f"postgres://app@{f.hostname()}:5432/{f.word()}", "dsn_template", "url no password")
        add(f"icon@{rng.randint(2, 3)}x.png", "asset", "retina image name")
        add(
            ".".join(str(n) for n in (rng.randint(256, 999), *rng.choices(range(256), k=3))),
            "value",
            "bad ipv4",
        )
        add(
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
            "time",
            "time",
        )
        add(f"#{rng.randbytes(3).hex()}", "color", "css color")
        add(f"{f.user_name()}_{f.word()}_{rng.randint(1, 99)}", "handle", "identifier")
        add("get" + "".join(w.title() for w in f.words(3)) + "ById", "function", "camelCase")
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(45)).decode()
        add(png, "thumbnail", "base64 image")
        add(
            f"Qty {rng.randint(1, 500)} at {rng.randint(1, 99)}.{rng.randint(0, 99):02d} EUR",
            None,
            "quantity",
        )
        add(f"Tracking number {rng.randint(10**11, 10**12 - 1)}", None, "tracking")
        add(f"Room {rng.randint(100, 999)}, floor {rng.randint(1, 20)}", None, "room")
        add(
            f"{rng.randint(1, 30)} {rng.choice(['apples', 'boxes', 'users'])} were added",
            None,
            "count",
        )
    return out


def _luhn_complete(body: str) -> str:
    """``body`` and the check digit that makes it pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _mod10_complete(body: str) -> str:
    """``body`` and the GS1 (EAN/UPC/GTIN) check digit: weights 3 and 1 from the right."""
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def more_negatives(seed: int) -> list[tuple[str, str | None, str]]:
    """Hard negatives added after the first corpus: digit strings that share a card's or a phone's
    shape or check digit. Drawn from their own generators (seeded from ``seed``), after every
    earlier record, so the records before them are unchanged for a given seed.
    """
    rng = random.Random(seed + 1)
    f = Faker("en_US")
    f.seed_instance(seed + 200)
    out: list[tuple[str, str | None, str]] = []

    def num(n: int, first: str = "123456789") -> str:
        return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(n - 1))

    def fours(number: str, sep: str) -> str:
        return sep.join(number[i : i + 4] for i in range(0, len(number), 4))

    for _ in range(40):
        sep = rng.choice([" ", "-"])
        card = str(f.credit_card_number(card_type=rng.choice(["visa16", "mastercard", "discover"])))
        bad = card[:-1] + str((int(card[-1]) + rng.randint(1, 9)) % 10)
        out.append((fours(bad, sep), None, "luhn-failing card in fours"))
        out.append(
            (fours(_luhn_complete(num(15, "17")), sep), "reference", "luhn 16 digits, MII 1/7")
        )
        out.append((num(12), "reference", "12-digit number"))
        out.append((f"FedEx {fours(num(12), ' ')}", None, "tracking number in fours"))
        out.append((f"{rng.randint(2019, 2025)}-{num(4, string.digits)}-{num(4, string.digits)}",
                    "reference", "year-prefixed reference"))  # fmt: skip
        tac = rng.choice(["35", "86", "01", "99"]) + num(6, string.digits)
        imei = _luhn_complete(tac + num(6, string.digits))
        out.append((imei, "device_id", "imei"))
        out.append((f"{imei[:2]}-{imei[2:8]}-{imei[8:14]}-{imei[14]}", None, "imei grouped"))
        out.append((f"UPC {f.upc_a()}", None, "upc-a"))
        out.append((_mod10_complete("756" + num(9, string.digits)), "barcode", "ean13 756 prefix"))
        out.append((_mod10_complete(num(13, string.digits)), "item_code", "gtin-14"))
        out.append((str(f.isbn10()).replace("-", ""), None, "isbn10"))
        out.append((f"+{rng.uniform(0, 89):.6f}, {rng.choice('+-')}{rng.uniform(0, 179):.6f}",
                    "coordinates", "signed coordinates"))  # fmt: skip
        amount = f"{rng.randint(10, 999)} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
        out.append((f"Total {amount} {rng.choice(['EUR', '€', 'CHF'])}", None, "amount"))
        d = f.date_time_between(
            start_date=dt.datetime(1930, 1, 1), end_date=dt.datetime(2025, 1, 1)
        )
        out.append((f"Delivered {d.strftime('%d %m %Y')}", None, "spaced date"))
        out.append((d.strftime(rng.choice(["%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"])),
                    "created", "date and time"))  # fmt: skip
        out.append((f"pp. {rng.randint(1, 999)}-{rng.randint(1000, 9999)}", None, "page range"))
        out.append((f"{rng.randint(1950, 2010)}-{rng.randint(2011, 2030)}", None, "year range"))
        out.append((f"{rng.randint(10, 99)}-{rng.randint(10, 99)}-{rng.randint(10, 99)} "
                    f"{num(8, string.digits)}", None, "sort code and account"))  # fmt: skip
        out.append(("00" + num(rng.randint(8, 10)), "legacy_id", "zero-padded id"))
        out.append((f"build {rng.randint(1, 30)}.{rng.randint(1, 12)}.{rng.randint(1, 31)}."
                    f"{rng.randint(256, 9999)}", None, "four-part build number"))  # fmt: skip
        out.append((str(rng.randint(1_300_000_000_000, 1_800_000_000_000)), "ts_ms", "epoch ms"))
    return out


def build(per_entity: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    g = Generators(seed)
    records: list[Record] = []
    entities = list(CONTEXT)
    for entity in entities:
        make = getattr(g, entity)
        for i in range(per_entity):
            made = make(rng)
            value, source = made if isinstance(made, tuple) else (made, entity)
            kind = ["bare", "context", "plain"][i % 3]
            if kind == "plain" and entity in CONTEXT_ONLY:
                kind = "context"
            if kind == "bare":
                text, column, start = value, rng.choice(COLUMNS[entity]), 0
            else:
                template = rng.choice(CONTEXT[entity] if kind == "context" else PLAIN)
                start = template.index("{v}")
                text, column = template.replace("{v}", value), None
            records.append({"text": text, "column": column, "kind": kind, "source": source,
                            "spans": [[start, start + len(value), entity]]})  # fmt: skip
    for text, column, source in negatives(g, rng):
        records.append({"text": text, "column": column, "kind": "negative", "source": source,
                        "spans": []})  # fmt: skip
    # mixed records: two entities in one note
    for _ in range(per_entity):
        a, b = rng.sample(["person", "email", "phone", "iban", "card_number", "ip_address"], 2)
        va, vb = (getattr(g, e)(rng) for e in (a, b))
        va = va[0] if isinstance(va, tuple) else va
        vb = vb[0] if isinstance(vb, tuple) else vb
        text = f"Note: {va} / {vb} - follow up"
        sa, sb = 6, 6 + len(va) + 3
        records.append({"text": text, "column": "notes", "kind": "mixed", "source": f"{a}+{b}",
                        "spans": [[sa, sa + len(va), a], [sb, sb + len(vb), b]]})  # fmt: skip
    for text, column, source in more_negatives(seed):
        records.append({"text": text, "column": column, "kind": "negative", "source": source,
                        "spans": []})  # fmt: skip
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-entity", type=int, default=150)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    records = build(args.per_entity, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(records)} records -> {args.out}")


if __name__ == "__main__":
    main()
