"""Value detectors: one table per entity of (value, column, expected), hard negatives included.

``expected`` is the exact text the finding must cover, or None for "no finding of this entity".
Context tests show a column name or a nearby word changing the verdict; classify_column and
custom entity tests follow. Property tests are in ``test_masking_detect_properties.py``.
"""

from __future__ import annotations

import itertools

import pytest

import wardgate.masking.detect as detect
from wardgate.masking.detect import ColumnClass, CustomEntity, Detector, Finding


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def found(detector: Detector, text: str, column: str | None = None) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in detector.find(text, column=column)]


def check(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    hits = [value for e, value in found(detector, text, column) if e == entity]
    if expected is None:
        assert hits == [], f"{text!r} (column {column}) should have no {entity}"
    else:
        assert expected in hits, f"{text!r} (column {column}): {found(detector, text, column)}"


Row = tuple[str, str | None, str | None]


def table(entity: str, rows: list[Row]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        ("entity", "text", "column", "expected"),
        [(entity, *r) for r in rows],
        ids=[f"{entity}:{r[0][:40]}" for r in rows],
    )


EMAIL: list[Row] = [
    ("jane.doe@example.com", None, "jane.doe@example.com"),
    ("mail j.doe+tag@mail.example.co.uk now", None, "j.doe+tag@mail.example.co.uk"),
    ("<ops@xn--bcher-kva.example>", None, "ops@xn--bcher-kva.example"),
    ("icon@2x.png", None, None),
    ("@username mentioned you", None, None),
    ("postgres://app@db.example.com:5432/shop", None, None),
    ("john..doe@example.com", None, None),
    ("user@localhost", None, None),
]
CARD: list[Row] = [
    ("4111 1111 1111 1111", None, "4111 1111 1111 1111"),
    ("paid 5555-5555-5555-4444 ok", None, "5555-5555-5555-4444"),
    ("2223003122003222", None, "2223003122003222"),  # Mastercard 2-series
    ("378282246310005", None, "378282246310005"),  # Amex
    ("6011111111111117", None, "6011111111111117"),  # Discover
    ("3530111333300000", None, "3530111333300000"),  # JCB
    ("36227206271667", None, "36227206271667"),  # Diners, 14 digits
    ("6200000000000005", None, "6200000000000005"),  # UnionPay
    ("4111111111111112", None, None),  # Luhn fails
    ("1234567812345670", None, None),  # Luhn passes, no issuer
    ("4006381333931", None, None),  # EAN-13 barcode shape (13-digit, Luhn-valid)
    ("036000291452", None, None),  # UPC-A
    ("9780306406157", None, None),  # ISBN-13
    ("6304000000000000", None, "6304000000000000"),  # Maestro 16
    ("630400000000", None, "630400000000"),  # Maestro's named prefixes at 12 digits
    ("See 501800000009 for details", None, "501800000009"),
    ("560000000003", "card_number", "560000000003"),  # Maestro's wide block: 12 digits...
    ("560000000003", None, None),  # ... only with context (order numbers, UPC-A codes)
    ("5600 0000 0003", None, None),  # twelve digits in fours: a reference as often
    ("38520000023237", None, "38520000023237"),  # Diners 38, 14 digits
    ("2200000000000004", None, "2200000000000004"),  # Mir
    ("8100000000000002", None, "8100000000000002"),  # UnionPay 81
    ("3520-9025-2642-6426", None, "3520-9025-2642-6426"),  # out of JCB's range, printed as a card
    ("3520902526426426", None, None),  # the same digits bare: no issuer uses 3520
    ("1196-5590-1727-0478", None, None),  # Luhn-valid in fours, but MII 1 is no payment card
    ("6662 6326 7015 0036", None, None),  # Luhn fails; its Luhn-valid tail is no card either
    ("36714500000009", None, "36714500000009"),  # Diners 14
    ("36-71-45 00000009", None, None),  # the same digits as a sort code and an account
    ("352099001761481", "device_id", None),  # IMEI: Luhn-valid, 15 digits, TAC 35
    ("35-209900-176148-1", None, None),
    ("IMEI 4111111111111111", None, None),  # says what it is
    ("4111111111111111", "barcode", None),
    ("FedEx 9032 6434 9595", None, None),
]
IBAN: list[Row] = [
    ("DE89 3704 0044 0532 0130 00", None, "DE89 3704 0044 0532 0130 00"),
    ("GB82WEST12345698765432", None, "GB82WEST12345698765432"),
    ("pay IBAN FR1420041010050500013M02606 EUR", None, "FR1420041010050500013M02606"),
    ("NL91 ABNA 0417 1643 00 by Friday", None, "NL91 ABNA 0417 1643 00"),
    ("DE89 3704 0044 0532 0130 01", None, None),  # mod 97 fails
    ("GB82WEST1234569876543", None, None),  # wrong length for GB
    ("XX82WEST12345698765432", None, None),  # no such country
]
US_SSN: list[Row] = [
    ("SSN: 536-22-8726", None, "536-22-8726"),
    ("536-22-8726", None, "536-22-8726"),
    ("536 22 8726", None, "536 22 8726"),
    ("536228726", "ssn", "536228726"),
    ("536228726 (SSN)", None, "536228726"),
    ("536228726", "order_no", None),
    ("000-12-3456", None, None),
    ("666-12-3456", None, None),
    ("912-12-3456", None, None),
    ("536-00-8726", None, None),
    ("536-22-0000", None, None),
    ("078-05-1120", None, None),  # the Woolworth wallet card
    ("invoice 536-22-8726", None, None),
]
UK_NINO: list[Row] = [
    ("AB 12 34 56 C", None, "AB 12 34 56 C"),
    ("NI number JG103759A", None, "JG103759A"),
    ("ZZ 12 34 56 C", None, None),  # never allocated
    ("GB 12 34 56 C", None, None),
    ("DA 12 34 56 C", None, None),  # D is not a first letter
    ("AB 12 34 56 E", None, None),  # suffix A-D only
]
NATIONAL_ID: list[Row] = [
    ("DNI 12345678Z", None, "12345678Z"),
    ("X1234567L", None, "X1234567L"),  # Spanish NIE
    ("RSSMRA85T10A562S", None, "RSSMRA85T10A562S"),  # codice fiscale
    ("131052-308T", None, "131052-308T"),  # Finnish HETU
    ("756.9217.0769.85", None, "756.9217.0769.85"),  # Swiss AHV
    ("BSN 111222333", None, "111222333"),
    ("111222333", "bsn", "111222333"),
    ("111222333", None, None),  # 11-proof passes, but bare digits need context
    ("Steuer-ID 86095742719", None, "86095742719"),
    ("PESEL 44051401359", None, "44051401359"),
    ("NIR 2 55 08 14 168 025 38", None, "2 55 08 14 168 025 38"),
    ("Tax ID 155032B03339390", None, "155032B03339390"),  # NIR born in Corsica (2B)
    ("NIR 1 55 03 2B 033 393 90", None, "1 55 03 2B 033 393 90"),
    ("155032B03339390", None, None),  # bare digits (and a letter) need context
    ("12345678A", None, None),  # DNI letter wrong
    ("7569217076985", "ahv_number", "7569217076985"),  # AHV without dots: only with context
    ("7569217076985", None, None),  # an EAN-13 barcode with prefix 756 passes the same check
    ("7561201827504", "barcode", None),
]
IP: list[Row] = [
    ("from 192.168.0.1 blocked", None, "192.168.0.1"),
    ("10.0.0.0/8", None, "10.0.0.0"),
    ("10.2.3.4", None, "10.2.3.4"),  # documented: a bare dotted quad is an address
    ("version 10.2.3.4", None, None),
    ("release 4.2.0.1 is out", None, None),
    ("v10.2.3.4", None, None),
    ("1.2.3.4.5", None, None),
    ("256.1.1.1", None, None),
    ("192.168.01.1", None, None),  # leading zero: ipaddress rejects
    ("2001:db8::8a2e:370:7334", None, "2001:db8::8a2e:370:7334"),
    ("fe80::1%eth0", None, "fe80::1%eth0"),
    ("::ffff:192.0.2.1", None, "::ffff:192.0.2.1"),
    ("meet at 12:30:45", None, None),
    ("2023-01-02T12:30:45Z", None, None),
]
MAC: list[Row] = [
    ("00:1A:2B:3C:4D:5E", None, "00:1A:2B:3C:4D:5E"),
    ("00-1a-2b-3c-4d-5e", None, "00-1a-2b-3c-4d-5e"),
    ("001a.2b3c.4d5e", None, "001a.2b3c.4d5e"),
    ("12-34-56-78-90-12", None, None),  # all digits with dashes: an id
    ("00:1A:2B:3C:4D", None, None),
]
PHONE: list[Row] = [
    ("Call +44 20 7946 0958 today", None, "+44 20 7946 0958"),
    ("+1 (415) 555-2671", None, "+1 (415) 555-2671"),
    ("0044 20 7946 0958", None, "0044 20 7946 0958"),
    ("Tel. 44 20 7946 0958", None, "44 20 7946 0958"),  # with context, "+" may be left out
    ("44 20 7946 0958", None, None),  # without, that is a national number (and no valid one)
    ("(415) 555-2671", None, "(415) 555-2671"),
    ("415-555-2671", None, "415-555-2671"),
    ("020 7946 0958", None, "020 7946 0958"),
    ("4155552671", "phone", "4155552671"),
    ("tel: 030 901820", None, "030 901820"),
    ("4155552671", None, None),  # ten bare digits: could be anything
    ("4155552671", "order_no", None),
    ("invoice 415-555-2671", None, None),
    ("2023-04-05", None, None),
    ("12.03.1985", None, None),
    ("10.2.3.4", None, None),
    ("573.129.202.250", None, None),
    ("+1 555 01", None, None),
    ("1.2.3", None, None),
    ("1-415-555-2671", None, "1-415-555-2671"),
    ("(543) 829-3815", None, "(543) 829-3815"),  # a parenthesised area code is a phone's
    ("(07741) 143482", None, "(07741) 143482"),
    ("03 55 40 77 24", None, "03 55 40 77 24"),  # French pairs
    ("06.12.34.56.78", None, "06.12.34.56.78"),
    ("080-5010-5363", None, "080-5010-5363"),  # Japanese mobile
    ("912 345 678", None, "912 345 678"),  # Spanish
    ("+1-933-842-8828x3521", None, "+1-933-842-8828x3521"),  # unassigned area code: possible
    ("+44 (0)115 496 0848", None, "+44 (0)115 496 0848"),  # Ofcom's drama range
    ("0044 20 7946 0958", None, "0044 20 7946 0958"),
    ("Tel. 44 20 7946 0958", None, "44 20 7946 0958"),  # with context, "+" may be left out
    ("44 20 7946 0958", None, None),  # without, that is a national number (and no valid one)
    ("Tel 0118 496 0374 / 07700 900123", None, "0118 496 0374"),  # two numbers, both found
    ("Tel 0118 496 0374 / 07700 900123", None, "07700 900123"),
    ("Note: 0118 496 0374 / 343700702214173", None, "0118 496 0374"),
    ("004796267937", "legacy_id", None),  # "00" without a separator: a zero-padded id
    ("+51.507351", None, None),  # a coordinate
    ("+49.871608, -29.414220", None, None),
    ("Delivered 04 02 1949", None, None),  # a date: valid in Germany, not written so there
    ("3807 3584 8452", None, None),  # valid in Italy, not written so there
    ("FedEx 9173 2325 8232", None, None),  # not India's 91 without its "+"
    ("FedEx 9077 7390 6204", None, None),  # not Brazil after the carrier code 90
    ("Total 737 748 934 EUR", None, None),  # grouped like a Spanish number: an amount
    ("€ 912 345 678", None, None),
    ("pp. 310-6054", None, None),
    ("4978 3435 0729 8299", None, None),  # a card number's tail
    ("build 19.12.12.5032", None, None),
    ("2023-04-05 12:30", None, None),
    ("12 345 678", None, None),
]
DOB: list[Row] = [
    ("DOB: 1985-03-12", None, "1985-03-12"),
    ("born 12/03/1985 in Leeds", None, "12/03/1985"),
    ("Date of birth: March 12, 1985", None, "March 12, 1985"),
    ("geboren am 12. März 1985", None, "12. März 1985"),
    ("1985-03-12", "date_of_birth", "1985-03-12"),
    ("19850312", "dob", "19850312"),
    ("1985-03-12", "created_at", None),  # a date without birth context
    ("Shipped on 2023-04-05", None, None),
    ("DOB: 2099-01-01", None, None),  # in the future
    ("DOB: 1985-13-12", None, None),  # no month 13
    ("Meeting on March 12, 2024", None, None),
]
ADDRESS: list[Row] = [
    ("221B Baker Street, London", None, "221B Baker Street"),
    ("lives at 1600 Pennsylvania Avenue NW", None, "1600 Pennsylvania Avenue"),
    ("228 Tina Trail Apt. 883", None, "228 Tina Trail Apt. 883"),
    ("4068 Jacob Stream\nDavidmouth, MH 95067", None, "4068 Jacob Stream\nDavidmouth, MH 95067"),
    ("Flat 6\nHunter Gardens", None, "Flat 6\nHunter Gardens"),
    ("83, rue Arnaude Berthelot", None, "83, rue Arnaude Berthelot"),
    ("Röhrichtweg 52\n58683 Güstrow", None, "Röhrichtweg 52\n58683 Güstrow"),
    ("Berliner Straße 12", None, "Berliner Straße 12"),
    ("Via Elisa, 991", None, "Via Elisa, 991"),
    ("Calle Mayor 5", None, "Calle Mayor 5"),
    ("Jeltesteeg 03", None, "Jeltesteeg 03"),
    ("SW1A 1AA", None, "SW1A 1AA"),
    ("94105", "zip", "94105"),
    ("東京都千代田区丸の内1丁目9番1号", None, "東京都千代田区丸の内1丁目9番1号"),
    ("94105", None, None),
    ("3 large rooms", None, None),
    ("Room 101, floor 3", None, None),
    ("Order 12 Street-facing", None, None),
    ("Tina Trail", None, None),  # a street name alone is not an address
]
MEDICAL: list[Row] = [
    ("MRN: 00482913", None, "00482913"),
    ("00482913", "mrn", "00482913"),
    ("Medical record number MR1234567 updated", None, "MR1234567"),
    ("00482913", "order_no", None),
    ("Order 00482913 shipped", None, None),
]
PERSON: list[Row] = [
    ("Meeting with John Smith tomorrow", None, "John Smith"),
    ("Maria del Carmen Ruiz signed", None, "Maria del Carmen Ruiz"),
    ("Karsten Wieloch-Bolnbach", None, "Karsten Wieloch-Bolnbach"),
    ("Lisa van den Velden", None, "Lisa van den Velden"),
    ("Dear Smith,", None, "Smith"),
    ("Mary", "first_name", "Mary"),
    ("Wilfredo Hendrickson", None, "Wilfredo Hendrickson"),  # surname not in the gazetteer
    ("木村 陽一", None, "木村 陽一"),
    ("Grant Access To Reports", None, None),
    ("Ethan Stream", None, None),  # a street named after someone
    ("Mary Glens", "street_name", None),
    ("New York", None, None),
    ("Hardy, Munoz and Oliver", "company", None),
    ("the quick brown fox", None, None),
    ("Monday March", None, None),
]
SECRETS: list[tuple[str, str, str | None, str | None]] = [
    ("aws_access_key", "AKIAIOSFODNN7EXAMPLE", None, "AKIAIOSFODNN7EXAMPLE"),
    ("aws_access_key", "ASIAY34FZKBOKMUTVV7A", None, "ASIAY34FZKBOKMUTVV7A"),
    ("aws_access_key", "AKIAIOSFODNN7EXAMPL", None, None),  # one short
    ("aws_secret_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None,
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("aws_secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("aws_secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "notes", None),
    ("gcp_api_key", "key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", None,
     "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("github_token", "ghp_1234567890abcdefghijABCDEFGHIJ123456", None,
     "ghp_1234567890abcdefghijABCDEFGHIJ123456"),
    ("github_token", "ghp_tooShort123", None, None),
    ("github_token", "github_pat_" + "A" * 22 + "_" + "b" * 59, None,
     "github_pat_" + "A" * 22 + "_" + "b" * 59),
    ("gitlab_token", "glpat-xYz12AbCdEfGh34IjKlM", None, "glpat-xYz12AbCdEfGh34IjKlM"),
    ("slack_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", None,
     "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack_token", "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGH/abcdefghijklmnopqrstuvwx",
     None, "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGH/abcdefghijklmnopqrstuvwx"),
    ("stripe_key", "sk_live_51HcXyZaBcDeFgHiJkLmNoPq", None, "sk_live_51HcXyZaBcDeFgHiJkLmNoPq"),
    ("stripe_key", "rk_test_51HcXyZaBcDeFgHiJkLmNoPq", None, "rk_test_51HcXyZaBcDeFgHiJkLmNoPq"),
    ("jwt", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl", None,
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"),
    ("jwt", "eyJub3RhbGciOjF9.eyJzdWIiOiIxMjM0In0.c2ln", None, None),  # header has no "alg"
    ("jwt", "eyJhbGciOiJIUzI1NiJ9", None, None),  # one part only
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n"
     "-----END RSA PRIVATE KEY-----", None,
     "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----"),
    ("private_key", "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQ\n-----END PUBLIC KEY-----",
     None, None),
    ("gcp_service_account_key", '{"type": "service_account", "private_key": '
     '"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}', None,
     "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"),
    ("connection_string", "DATABASE_URL=postgres://app:s3cr3t@db.example.com:5432/shop", None,
     "postgres://app:s3cr3t@db.example.com:5432/shop"),
    ("connection_string", "mongodb+srv://admin:Pa55w0rd@cluster0.mongodb.net/test", None,
     "mongodb+srv://admin:Pa55w0rd@cluster0.mongodb.net/test"),
    ("connection_string", "redis://:hunter22@cache:6379/0", None, "redis://:hunter22@cache:6379/0"),
    ("connection_string", "jdbc:postgresql://db:5432/shop?user=app&password=s3cr3t", None,
     "jdbc:postgresql://db:5432/shop?user=app&password=s3cr3t"),
    ("connection_string", "Server=db;Database=shop;Uid=app;Pwd=s3cr3t;", None,
     "Server=db;Database=shop;Uid=app;Pwd=s3cr3t;"),
    ("connection_string", "host=db port=5432 user=app password=s3cr3t dbname=shop", None,
     "host=db port=5432 user=app password=s3cr3t dbname=shop"),
    ("connection_string", "postgres://app@db.example.com:5432/shop", None, None),
    ("connection_string", "http://example.com:8080@proxy", None, None),
    ("password", "password: hunter2", None, "hunter2"),
    ("password", "password: ********", None, None),
    ("password", "$2b$12$KIXQJvZ8l3b6Y1b2c3d4eO", "password_hash", "$2b$12$KIXQJvZ8l3b6Y1b2c3d4eO"),
    ("high_entropy_token", "token: 9v5ufHHAPiCmQpjhuN7lpqJGDJPKxGlk", None,
     "9v5ufHHAPiCmQpjhuN7lpqJGDJPKxGlk"),
    ("high_entropy_token", "qg6SYUaOXQsxpKzT3ZeCKBI85cyrXNAc", None,
     "qg6SYUaOXQsxpKzT3ZeCKBI85cyrXNAc"),
    ("high_entropy_token", "3b5d5c3712955042212316173ccf37be", "api_token",
     "3b5d5c3712955042212316173ccf37be"),  # hex counts with strong context
    ("high_entropy_token", "3b5d5c3712955042212316173ccf37be", "checksum", None),  # md5
    ("high_entropy_token", "da39a3ee5e6b4b0d3255bfef95601890afd80709", None, None),  # sha1
    ("high_entropy_token",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None, None),  # sha256
    ("high_entropy_token", "Merged 9fceb02 into main", None, None),  # git short hash
    ("high_entropy_token", "f47ac10b-58cc-4372-a567-0e02b2c3d479", None, None),  # UUID
    ("high_entropy_token", "dGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcw==", None, None),  # base64 of words
    ("high_entropy_token", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4", None, None),
    ("high_entropy_token", "getUserAccountSettingsById2", None, None),
    ("high_entropy_token", "user_account_settings_v2_backup", None, None),
]  # fmt: skip


@table("email", EMAIL)
def test_email(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("card_number", CARD)
def test_card(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("iban", IBAN)
def test_iban(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("us_ssn", US_SSN)
def test_us_ssn(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("uk_nino", UK_NINO)
def test_uk_nino(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("national_id", NATIONAL_ID)
def test_national_id(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("ip_address", IP)
def test_ip(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("mac_address", MAC)
def test_mac(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("phone", PHONE)
def test_phone(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("date_of_birth", DOB)
def test_date_of_birth(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("address", ADDRESS)
def test_address(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("medical_record", MEDICAL)
def test_medical_record(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@table("person", PERSON)
def test_person(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


@pytest.mark.parametrize(
    ("entity", "text", "column", "expected"), SECRETS, ids=[f"{s[0]}:{s[1][:40]}" for s in SECRETS]
)
def test_secrets(
    detector: Detector, entity: str, text: str, column: str | None, expected: str | None
) -> None:
    check(detector, entity, text, column, expected)


HARD_NEGATIVES = [
    ("f47ac10b-58cc-4372-a567-0e02b2c3d479", "id"),
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "digest"),
    ("2023-04-05T12:30:45.123456Z", "created_at"),
    ("1680000000", "epoch"),
    ("ORD-2023-004512", "reference"),
    ("48213377", "order_no"),
    ("5901234123457", "barcode"),  # EAN-13
    ("$1,234.56", "price"),
    ("SKU-88412-XL", "sku"),
    ("Qty 12 at 3.50 EUR", None),
    ("https://example.com/a/b?page=2", "url"),
    ("#a1b2c3", "color"),
    ("The meeting is on Monday in room 4.", None),
    ("1.2.3", "version"),
]


@pytest.mark.parametrize(("text", "column"), HARD_NEGATIVES)
def test_hard_negatives_find_nothing(detector: Detector, text: str, column: str | None) -> None:
    assert found(detector, text, column) == []


def test_column_name_changes_the_verdict(detector: Detector) -> None:
    assert found(detector, "536228726", "customer_ssn") == [("us_ssn", "536228726")]
    assert found(detector, "536228726", "customerSSN") == [("us_ssn", "536228726")]
    assert found(detector, "536228726", "order_no") == []
    assert found(detector, "1985-03-12", "date_of_birth") == [("date_of_birth", "1985-03-12")]
    assert found(detector, "1985-03-12", "shipped_on") == []
    assert found(detector, "4155552671", "mobile_number") == [("phone", "4155552671")]
    assert found(detector, "4155552671", "tracking_no") == []


def test_context_words_in_the_text_count(detector: Detector) -> None:
    assert found(detector, "SSN: 536228726") == [("us_ssn", "536228726")]
    assert found(detector, "ref 536228726") == []
    assert found(detector, "MRN 00482913") == [("medical_record", "00482913")]


def test_table_name_is_context_too(detector: Detector) -> None:
    hits = detector.find("Mary", column="name", table="customers")
    assert [(f.entity, f.start, f.end) for f in hits] == [("person", 0, 4)]


def test_findings_sorted_non_overlapping_and_typed(detector: Detector) -> None:
    text = "John Smith <john@example.com>, card 4111 1111 1111 1111, ip 10.0.0.1, SSN 536-22-8726"
    hits = detector.find(text)
    assert [f.entity for f in hits] == ["person", "email", "card_number", "ip_address", "us_ssn"]
    assert all(isinstance(f, Finding) and 0 < f.score <= 1 for f in hits)
    assert all(a.end <= b.start for a, b in itertools.pairwise(hits))


def test_overlaps_go_to_the_more_specific_entity(detector: Detector) -> None:
    # a Stripe key is also a high-entropy token, and a JWT a token: the vendor format wins
    assert found(detector, "pk_live_S5C5GYUevs80vBvDpmf62gng")[0][0] == "stripe_key"
    url = "postgres://app:s3cr3t@db.example.com/shop"
    assert found(detector, f"password={url}") == [("connection_string", url)]


def test_entities_filter_by_entity_and_family(detector: Detector) -> None:
    text = "jane@example.com 4111 1111 1111 1111 AKIAIOSFODNN7EXAMPLE SSN 536-22-8726"
    assert {e for e, _ in found(detector, text)} == {
        "email", "card_number", "aws_access_key", "us_ssn"}  # fmt: skip
    only = detector.find(text, entities=frozenset({"email"}))
    assert [f.entity for f in only] == ["email"]
    secrets = detector.find(text, entities=frozenset({"secret", "national_id"}))
    assert [f.entity for f in secrets] == ["aws_access_key", "us_ssn"]
    assert detector.find(text, entities=frozenset()) == []


def test_short_and_empty_values(detector: Detector) -> None:
    assert detector.find("") == []
    assert detector.find("7") == []
    assert detector.find("hello world") == []


def test_every_entity_is_in_the_vocabulary(detector: Detector) -> None:
    from wardgate.masking._entities import ENTITIES

    # every entity of the vocabulary has a recognizer, and none reports anything else
    assert detector.entities == set(ENTITIES)


def test_public_surface() -> None:
    assert set(detect.__all__) == {"ColumnClass", "CustomEntity", "Detector", "Finding"}
    public = {n for n in dir(detect) if not n.startswith("_")}
    assert public - set(detect.__all__) <= {"annotations"}


# -- custom entities ---------------------------------------------------------------------------


def test_custom_entity_with_stdnum_validator() -> None:
    d = Detector(custom=[CustomEntity("es_nif", r"\b[0-9XYZ]\d{7}[A-Z]\b", "stdnum.es.nif")])
    # the custom entity outranks the built-in DNI recognizer on the same span
    assert found(d, "NIF 12345678Z") == [("custom:es_nif", "12345678Z")]
    assert found(d, "NIF 12345678A") == []  # check letter wrong: neither reports it


def test_custom_entity_builtin_validators_and_context() -> None:
    d = Detector(
        custom=[
            CustomEntity("loyalty", r"\bLC-\d{8}\b"),
            CustomEntity("acct", r"\b\d{10}\b", "luhn", context=("account no",)),
            CustomEntity("iban_like", r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b", "mod97"),
        ]
    )
    assert found(d, "card LC-12345678 used") == [("custom:loyalty", "LC-12345678")]
    assert found(d, "1234567897") == []  # Luhn-valid, but the context word is required
    assert found(d, "Account no 1234567897") == [("custom:acct", "1234567897")]
    assert found(d, "Account no 1234567890") == []  # Luhn fails
    assert found(d, "1234567897", column="account_no") == [("custom:acct", "1234567897")]
    custom_only = frozenset({"custom"})
    hits = d.find("GB82WEST12345698765432 and GB82WEST12345698765433", entities=custom_only)
    assert [(f.entity, f.start) for f in hits] == [("custom:iban_like", 0)]


@pytest.mark.parametrize(
    "entity",
    [
        CustomEntity("Bad Name", r"x"),
        CustomEntity("ok", r"("),
        CustomEntity("ok", r"a*"),
        CustomEntity("ok", r"x", "os.path"),
        CustomEntity("ok", r"x", "stdnum.nowhere"),
        CustomEntity("ok", r"x", "nope"),
    ],
)
def test_custom_entity_rejects_bad_definitions(entity: CustomEntity) -> None:
    with pytest.raises(ValueError):
        Detector(custom=[entity])


# -- classify_column ---------------------------------------------------------------------------


def classify(
    detector: Detector,
    column: str,
    type_name: str = "text",
    samples: tuple[str, ...] = (),
    table: str = "customers",
    comment: str | None = None,
) -> ColumnClass | None:
    return detector.classify_column(
        table=table, column=column, type_name=type_name, comment=comment, samples=samples
    )


@pytest.mark.parametrize(
    ("column", "type_name", "entity"),
    [
        ("email", "character varying(255)", "email"),
        ("contact_email", "citext", "email"),
        ("ssn", "text", "us_ssn"),
        ("social_security_number", "bigint", "us_ssn"),
        ("iban", "varchar", "iban"),
        ("card_number", "text", "card_number"),
        ("phone", "text", "phone"),
        ("mobileNumber", "varchar(32)", "phone"),
        ("dob", "date", "date_of_birth"),
        ("date_of_birth", "timestamp with time zone", "date_of_birth"),
        ("first_name", "text", "person"),
        ("last_name", "text", "person"),
        ("full_name", "text", "person"),
        ("address", "text", "address"),
        ("street", "text", "address"),
        ("zip_code", "text", "address"),
        ("api_key", "text", "high_entropy_token"),
        ("access_token", "text", "high_entropy_token"),
        ("client_secret", "text", "high_entropy_token"),
        ("password", "text", "password"),
        ("password_hash", "bytea", "password"),
        ("last_login_ip", "inet", "ip_address"),
        ("mac_address", "macaddr", "mac_address"),
        ("mrn", "text", "medical_record"),
        ("private_key", "text", "private_key"),
        ("email_address", "text", "email"),
    ],
)
def test_classify_by_strong_name(
    detector: Detector, column: str, type_name: str, entity: str
) -> None:
    got = classify(detector, column, type_name)
    assert got is not None and got.entity == entity and got.confidence >= 0.75, got
    assert column in got.reason


@pytest.mark.parametrize(
    ("column", "type_name"),
    [
        ("email_verified", "boolean"),
        ("email_count", "integer"),
        ("email_template", "text"),
        ("password_changed_at", "timestamp"),
        ("token_expires_at", "timestamptz"),
        ("phone_country", "text"),
        ("address_id", "integer"),
        ("dob", "integer"),
        ("status", "text"),
        ("order_no", "bigint"),
    ],
)
def test_classify_rejects_lookalike_names(detector: Detector, column: str, type_name: str) -> None:
    assert classify(detector, column, type_name) is None


def test_classify_name_only_in_people_tables(detector: Detector) -> None:
    assert classify(detector, "name", table="customers") == ColumnClass(
        "person", 0.9, "column name 'name'"
    )
    assert classify(detector, "name", table="products") is None


def test_classify_from_samples(detector: Detector) -> None:
    emails = (*(f"user{i}@example.com" for i in range(8)), "n/a", "")
    got = classify(detector, "contact", samples=emails)
    assert got is not None and got.entity == "email" and "8/9" in got.reason
    ibans = ("DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "x", "y", "z")
    assert classify(detector, "payload", samples=ibans) is None  # 2/5 < 60%
    got = classify(detector, "payload", samples=(*ibans[:2], "NL91ABNA0417164300"))
    assert got is not None and got.entity == "iban" and got.confidence == 0.95


def test_classify_samples_refine_the_family(detector: Detector) -> None:
    tokens = tuple("ghp_" + f"{i:02d}" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7" for i in range(5))
    got = classify(detector, "token", samples=tokens)
    assert got is not None and got.entity == "github_token" and got.confidence == 0.97


def test_classify_name_wins_but_says_samples_disagree(detector: Detector) -> None:
    got = classify(detector, "ssn", samples=tuple(f"note {i}" for i in range(12)))
    assert got is not None and got.entity == "us_ssn" and got.confidence < 0.9
    assert "do not agree" in got.reason


def test_classify_comment(detector: Detector) -> None:
    got = classify(detector, "col7", comment="Customer email address")
    assert got is not None and got.entity == "email" and "comment" in got.reason


def test_classify_is_pure(detector: Detector) -> None:
    samples = ("536-22-8726", "536-22-8727", "536-22-8728")
    first = classify(detector, "c", samples=samples)
    assert first == classify(detector, "c", samples=samples)
    assert first is not None and first.entity == "us_ssn"
