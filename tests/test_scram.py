"""Tests for the sans-IO SCRAM-SHA-256 and md5 helpers."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wardgate.pgwire._scram import (
    ScramClient,
    ScramError,
    ScramServer,
    ScramVerifier,
    make_verifier,
    md5_password_response,
)

# RFC 7677, section 3.
RFC_USER = "user"
RFC_PASSWORD = "pencil"
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

FUZZ = settings(max_examples=200, deadline=None, database=None)

# Cheap parameters for tests that run many exchanges.
FAST_VERIFIER = make_verifier("secret", salt=b"0123456789abcdef", iterations=1)


def rfc_verifier() -> ScramVerifier:
    return make_verifier(RFC_PASSWORD, salt=RFC_SALT, iterations=4096)


def expected_keys(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """StoredKey and ServerKey computed straight from RFC 5802, section 3."""
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def exchange(client: ScramClient, server: ScramServer) -> None:
    server_first = server.handle_client_first(client.client_first())
    server_final = server.handle_client_final(client.client_final(server_first))
    client.verify_server_final(server_final)


def started_server(verifier: ScramVerifier | None = FAST_VERIFIER) -> tuple[ScramServer, bytes]:
    """A server that has answered client-first, and a valid client-final for it."""
    client = ScramClient("secret")
    server = ScramServer(verifier)
    client_final = client.client_final(server.handle_client_first(client.client_first()))
    return server, client_final


# --- RFC 7677 test vector ---------------------------------------------------------------------


def test_rfc7677_client() -> None:
    client = ScramClient(RFC_PASSWORD, nonce=RFC_CLIENT_NONCE, username=RFC_USER)
    assert client.client_first() == RFC_CLIENT_FIRST
    assert client.client_final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    client.verify_server_final(RFC_SERVER_FINAL)


def test_rfc7677_server() -> None:
    server = ScramServer(rfc_verifier(), nonce=RFC_SERVER_NONCE)
    assert server.handle_client_first(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert server.username == RFC_USER
    assert server.handle_client_final(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL


# --- round trips and failures -----------------------------------------------------------------


def test_round_trip_default_parameters() -> None:
    client = ScramClient("correct horse")
    client_first = client.client_first()
    assert client_first.startswith(b"n,,n=,r=")
    server = ScramServer(make_verifier("correct horse"))
    server_final = server.handle_client_final(
        client.client_final(server.handle_client_first(client_first))
    )
    client.verify_server_final(server_final)


def test_round_trip_non_ascii_password_and_escaped_username() -> None:
    verifier = make_verifier("pässwörd\u00ad", iterations=1)
    server = ScramServer(verifier)
    exchange(ScramClient("pa\u0308sswo\u0308rd", username="a=b,c"), server)
    assert server.username == "a=b,c"


def test_gs2_flag_y_accepted() -> None:
    server = ScramServer(FAST_VERIFIER, nonce="SRV")
    server_first = server.handle_client_first(b"y,,n=,r=CLI")
    assert server_first == b"r=CLISRV,s=" + base64.b64encode(FAST_VERIFIER.salt) + b",i=1"
    # Compute the proof for gs2 header "y,," (c=eSws) by hand.
    salted = hashlib.pbkdf2_hmac("sha256", b"secret", FAST_VERIFIER.salt, 1)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    without_proof = b"c=eSws,r=CLISRV"
    auth = b"n=,r=CLI," + server_first + b"," + without_proof
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    final = server.handle_client_final(without_proof + b",p=" + base64.b64encode(proof))
    assert final.startswith(b"v=")


def test_wrong_password_and_unknown_user_look_the_same() -> None:
    with pytest.raises(ScramError) as wrong_password:
        exchange(ScramClient("not secret"), ScramServer(FAST_VERIFIER))
    with pytest.raises(ScramError) as unknown_user:
        exchange(ScramClient("secret"), ScramServer(None))
    assert str(wrong_password.value) == "password authentication failed"
    assert str(unknown_user.value) == str(wrong_password.value)


def test_unknown_user_server_first_has_real_shape() -> None:
    server_first = ScramServer(None, nonce="S").handle_client_first(b"n,,n=,r=C")
    nonce, salt, iterations = server_first.split(b",")
    assert nonce == b"r=CS"
    assert len(base64.b64decode(salt[2:], validate=True)) == 16
    assert iterations == b"i=4096"


def replace_attr(message: bytes, name: bytes, value: bytes) -> bytes:
    parts = message.split(b",")
    return b",".join(name + b"=" + value if p[:2] == name + b"=" else p for p in parts)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"p", base64.b64encode(bytes(32))),  # tampered proof
        (b"r", b"someothernonce"),  # tampered nonce
        (b"c", b"eSws"),  # channel binding says "y,," but client-first said "n,,"
        (b"c", base64.b64encode(b"p=tls-server-end-point,,")),
        (b"p", base64.b64encode(bytes(31))),  # proof of the wrong length
        (b"p", b"not base64!"),
    ],
)
def test_tampered_client_final_rejected(name: bytes, value: bytes) -> None:
    server, client_final = started_server()
    with pytest.raises(ScramError):
        server.handle_client_final(replace_attr(client_final, name, value))


def test_untampered_client_final_accepted() -> None:
    server, client_final = started_server()
    assert server.handle_client_final(client_final).startswith(b"v=")


@pytest.mark.parametrize(
    "client_first",
    [
        b"p=tls-server-end-point,,n=,r=abc",
        b"p,,n=,r=abc",
        b"n,a=admin,n=,r=abc",
        b"n,,m=ext,n=,r=abc",
        b"n,,n=,r=abc,m=ext",
        b"n,,r=abc,n=",
        b"n,,n=,r=",
        b"n,,n=a=2Xb,r=abc",
        b"n,,n=,r=a\x7fb",
        b"x,,n=,r=abc",
        b"n,,n=,r=abc,",
        b"",
        b"n,,n=\xff,r=abc",
    ],
)
def test_malformed_client_first_rejected(client_first: bytes) -> None:
    with pytest.raises(ScramError):
        ScramServer(FAST_VERIFIER).handle_client_first(client_first)


def test_client_first_extension_ignored() -> None:
    server = ScramServer(FAST_VERIFIER, nonce="S")
    assert server.handle_client_first(b"n,,n=,r=C,x=ignored").startswith(b"r=CS,")


def test_oversized_messages_rejected() -> None:
    big = b"n,,n=,r=" + b"a" * 4096
    with pytest.raises(ScramError, match="too long"):
        ScramServer(FAST_VERIFIER).handle_client_first(big)
    server, client_final = started_server()
    with pytest.raises(ScramError, match="too long"):
        server.handle_client_final(client_final + b",x=" + b"a" * 4096)
    client = ScramClient("secret", nonce="C")
    client.client_first()
    with pytest.raises(ScramError, match="too long"):
        client.client_final(b"r=CS" + b"a" * 4096 + b",s=AAAA,i=1")


def test_messages_out_of_order_rejected() -> None:
    server, client_final = started_server()
    with pytest.raises(ScramError):
        server.handle_client_first(b"n,,n=,r=abc")
    server.handle_client_final(client_final)
    with pytest.raises(ScramError):
        server.handle_client_final(client_final)  # no replay on the same exchange
    client = ScramClient("secret")
    with pytest.raises(ScramError):
        client.client_final(b"r=x,s=AAAA,i=1")
    with pytest.raises(ScramError):
        client.verify_server_final(b"v=AAAA")


def test_client_detects_wrong_server_key() -> None:
    real = FAST_VERIFIER
    impostor = ScramVerifier(
        iterations=real.iterations,
        salt=real.salt,
        stored_key=real.stored_key,
        server_key=bytes(32),
    )
    client = ScramClient("secret")
    server = ScramServer(impostor)
    server_final = server.handle_client_final(
        client.client_final(server.handle_client_first(client.client_first()))
    )
    with pytest.raises(ScramError, match="server signature"):
        client.verify_server_final(server_final)


def test_client_reports_server_error() -> None:
    client = ScramClient("secret", nonce="C")
    client.client_first()
    client.client_final(b"r=CS,s=AAAA,i=1")
    with pytest.raises(ScramError, match="invalid-proof"):
        client.verify_server_final(b"e=invalid-proof")


@pytest.mark.parametrize(
    "server_first",
    [
        b"r=XS,s=AAAA,i=1",  # does not extend our nonce
        b"r=C,s=AAAA,i=1",  # server added nothing
        b"r=CS,s=AAAA,i=0",
        b"r=CS,s=AAAA,i=10000001",
        b"r=CS,s=AAAA,i=+1",
        b"r=CS,s=AAAA,i=",
        b"r=CS,s=,i=1",
        b"r=CS,s=AAA,i=1",
        b"m=x,r=CS,s=AAAA,i=1",
        b"r=CS,i=1,s=AAAA",
    ],
)
def test_bad_server_first_rejected(server_first: bytes) -> None:
    client = ScramClient("secret", nonce="C")
    client.client_first()
    with pytest.raises(ScramError):
        client.client_final(server_first)


def test_error_messages_do_not_leak_secrets() -> None:
    password = "hunter2-very-secret"
    verifier = make_verifier(password, iterations=1)
    secrets_text = [password, verifier.to_text(), *verifier.to_text().split("$")[1:]]
    server, client_final = started_server(verifier)
    with pytest.raises(ScramError) as info:
        server.handle_client_final(client_final)
    assert not any(s in str(info.value) for s in secrets_text)
    assert "stored_key" not in repr(verifier)
    with pytest.raises(ValueError) as parse_error:
        ScramVerifier.parse(verifier.to_text() + "!")
    assert not any(s in str(parse_error.value) for s in secrets_text)


def test_invalid_injected_nonce_rejected() -> None:
    with pytest.raises(ValueError):
        ScramServer(FAST_VERIFIER, nonce="a,b")
    with pytest.raises(ValueError):
        ScramClient("secret", nonce="")


# --- verifiers --------------------------------------------------------------------------------


def test_make_verifier_matches_independent_computation() -> None:
    salt = bytes(range(16))
    verifier = make_verifier("pencil", salt=salt, iterations=4096)
    stored_key, server_key = expected_keys(b"pencil", salt, 4096)
    assert verifier == ScramVerifier(
        iterations=4096, salt=salt, stored_key=stored_key, server_key=server_key
    )
    expected_text = (
        "SCRAM-SHA-256$4096:"
        + base64.b64encode(salt).decode()
        + "$"
        + base64.b64encode(stored_key).decode()
        + ":"
        + base64.b64encode(server_key).decode()
    )
    assert verifier.to_text() == expected_text


@pytest.mark.parametrize(
    ("password", "prepared"),
    [
        ("I\u00adX", b"IX"),  # RFC 4013 examples: soft hyphen mapped to nothing
        ("\u00aa", b"a"),  # NFKC
        ("\u2168", b"IX"),  # NFKC
        ("a\u00a0b", b"a b"),  # non-ASCII space becomes a space
        ("\u0007", b"\x07"),  # pure ASCII is never touched (PostgreSQL quirk)
        ("\u00e9\u0007", "\u00e9\u0007".encode()),  # prohibited: raw bytes
        ("\u0627\u0031", "\u0627\u0031".encode()),  # bidi violation: raw bytes
        ("\u00ad", "\u00ad".encode()),  # empty after mapping: raw bytes
        ("\u0627\u0031\u0628", "\u0627\u0031\u0628".encode()),  # valid RTL string
    ],
)
def test_saslprep_like_postgresql(password: str, prepared: bytes) -> None:
    verifier = make_verifier(password, salt=b"salt", iterations=1)
    stored_key, server_key = expected_keys(prepared, b"salt", 1)
    assert (verifier.stored_key, verifier.server_key) == (stored_key, server_key)


def test_verifier_text_round_trip() -> None:
    verifier = make_verifier("pencil")
    assert ScramVerifier.parse(verifier.to_text()) == verifier
    rfc = rfc_verifier()
    assert ScramVerifier.parse(rfc.to_text()) == rfc
    assert rfc.to_text().startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")


# Generated once with PostgreSQL 18.6 (`postgres --single`, password_encryption=scram-sha-256,
# CREATE ROLE ... PASSWORD '<password>'); columns: password, salt, StoredKey, ServerKey.
# The non-ASCII cases pin down PostgreSQL's SASLprep behaviour, including its raw-bytes
# fallback for prohibited characters, bidi violations and passwords that map to nothing.
REAL_PG_VERIFIERS = [
    (
        "pencil",
        "ETNglj+OwvF1MzOcd4kzAw==",
        "bD9XpfLt8sOXLEbdbrMepq1zryw/GelwarMFxwanVEU=",
        "2fEKWyGszHHxBZidim0N+ZRU1cHpPQH6wEjOZ3x5xFg=",
    ),
    (
        "p\xe4ssw\xf6rd\xad",
        "csPBYgpXFUJbZcNmwiBhTA==",
        "02rLzevQH/7ZvrENfFfXNcy1lDvS68cuTBDECyacE24=",
        "2AS87gtgWu5FkKhJNvH1RXWrcuAeKFnk9tOKNJZ9rKw=",
    ),
    (
        "\u2168 \xaa",
        "qYvqCkcz8BmK8TkqRLS0zw==",
        "GB5I7GgYgVv5t8iCMDZTGg5eWMDR1iquzoi1Cvmkt6w=",
        "Wh8yy9EqxRK88hy0A1Lokd599A9o7wdqmcOatmFkvik=",
    ),
    (
        "\xe9\x07",
        "5vkHmBcHjBzK8nqrwr7xHw==",
        "4l+syvAzkoGZ0TYJORdd5kaT+f7VI4/7cc7iR42vLsQ=",
        "5Yr6hzQSi9BL5z5ze0DE29uLzG0FIVdQpbMz51bMloI=",
    ),
    (
        "\u06271",
        "u1ESecs2rywvzcxN/rdtaw==",
        "uvSDsSxA+D0ED1asFG1jUTxy/BzDKWkQEuOg4sEiKso=",
        "I8VqTlBLY96FfCLCDWfGZKoHwAogVJYugPMN6DvpID0=",
    ),
    (
        "\xad",
        "BKy47blEXQQ9YoaLrS+Pnw==",
        "VHCRGq+E0/lei8+7bil+0R6pRYYSUNeUYOI0TJ5io30=",
        "BN1tZRuTacdC81fMk7pP7la6U2zFVap3K+y2drMD4qU=",
    ),
    (
        "\ufb01\U0001d400\u2460",
        "RE16uFFgdY/q5YqZQQvkZw==",
        "H4dIEh1rpjy160WYFQgObHKwAOJPqO6WoDR3nsdEPVs=",
        "ylQDAyTigRe+5Sk3dHLzIQu8k6yRk1hLJF849/ocR4s=",
    ),
    (
        "a\xa0b\u200b",
        "P4hiFj+vZ89V6IyQUVWbHA==",
        "3C0ugskXsdUOaHbiRcTQVTdw/fS4PEd0KzHzn8W6CMQ=",
        "ggiXkzrbopiMehM/rl1r6XRfvauK2SuZhjy1z6Tqc94=",
    ),
    (
        "\u06271\u0628",
        "yPRK8ePYZHlYsx7Cr/R/hQ==",
        "YUQ9noD0s0lLYqgPYuFDxFAdlToKPJaWaNwHTPq5Hzg=",
        "08RqJo13s++PstFMiYWefjWJpilknJPvrifCz/dinQE=",
    ),
    (
        "caf\xe9",
        "M92vfMapJJeUsLGs1ukOhg==",
        "Q4gApUUHlrNTgwHx9spraQ9NImzRHIagTors35UppDI=",
        "OrW0GSNHTkUNxkgh4Kjt/JhqDZLxh4alZ90qPbywgE0=",
    ),
    (
        "x\u0301\u0627",
        "YjU+VVN0VhZTCboB4FAQfw==",
        "zkD71bRWkaT9br8qHnzM5jV6tU2RvyMl0Qcj2FBw4aw=",
        "Siitxv4Tuki+r+bwKgMigOTuUsW9WhenR+1vxglN65s=",
    ),
]


@pytest.mark.parametrize(("password", "salt", "stored_key", "server_key"), REAL_PG_VERIFIERS)
def test_verifier_from_real_postgresql(
    password: str, salt: str, stored_key: str, server_key: str
) -> None:
    text = f"SCRAM-SHA-256$4096:{salt}${stored_key}:{server_key}"
    verifier = ScramVerifier.parse(text)
    assert verifier.to_text() == text
    assert make_verifier(password, salt=verifier.salt, iterations=4096) == verifier
    server = ScramServer(verifier)
    client = ScramClient(password)
    server_first = server.handle_client_first(client.client_first())
    client.verify_server_final(server.handle_client_final(client.client_final(server_first)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "md5abcdef",
        "SCRAM-SHA-1$4096:AAAA$" + "A" * 43 + "=:" + "A" * 43 + "=",
        "SCRAM-SHA-256$0:AAAA$" + "A" * 43 + "=:" + "A" * 43 + "=",
        "SCRAM-SHA-256$x:AAAA$" + "A" * 43 + "=:" + "A" * 43 + "=",
        "SCRAM-SHA-256$4096:$" + "A" * 43 + "=:" + "A" * 43 + "=",
        "SCRAM-SHA-256$4096:AAAA$AAAA:" + "A" * 43 + "=",
        "SCRAM-SHA-256$4096:AAAA$" + "A" * 43 + "=",
        "SCRAM-SHA-256$4096:AAAA$" + "A" * 43 + "=:" + "A" * 43 + "=$x",
        "SCRAM-SHA-256$4096:A!AA$" + "A" * 43 + "=:" + "A" * 43 + "=",
    ],
)
def test_verifier_parse_rejects_bad_input(text: str) -> None:
    with pytest.raises(ValueError):
        ScramVerifier.parse(text)


# --- md5 --------------------------------------------------------------------------------------


def test_md5_password_response() -> None:
    salt = b"\x01\x02\x03\x04"
    inner = hashlib.md5(b"secretalice").hexdigest()
    expected = b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode()
    assert md5_password_response("alice", "secret", salt) == expected
    assert len(expected) == 35
    with pytest.raises(ValueError):
        md5_password_response("alice", "secret", b"abc")


# --- fuzzing ----------------------------------------------------------------------------------


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply (position, delete count, insertion) edits to ``data``."""
    for position, delete, insert in edits:
        at = position % (len(data) + 1)
        data = data[:at] + insert + data[at + delete :]
    return data


EDITS = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 3), st.binary(max_size=3)),
    min_size=1,
    max_size=3,
)


@FUZZ
@given(st.binary(max_size=5000))
def test_fuzz_handle_client_first(data: bytes) -> None:
    try:
        server_first = ScramServer(FAST_VERIFIER).handle_client_first(data)
    except ScramError:
        return
    assert server_first.startswith(b"r=")  # a well-formed client-first is fine to accept


@FUZZ
@given(EDITS)
def test_fuzz_mutated_client_first(edits: list[tuple[int, int, bytes]]) -> None:
    data = mutate(b"n,,n=someone,r=abcdefghijkl", edits)
    with contextlib.suppress(ScramError):
        ScramServer(FAST_VERIFIER).handle_client_first(data)


@FUZZ
@given(st.binary(max_size=5000))
def test_fuzz_handle_client_final(data: bytes) -> None:
    server, _ = started_server()
    with pytest.raises(ScramError):
        server.handle_client_final(data)


@FUZZ
@given(EDITS)
def test_fuzz_mutated_client_final(edits: list[tuple[int, int, bytes]]) -> None:
    server, client_final = started_server()
    data = mutate(client_final, edits)
    assume(data != client_final)
    with pytest.raises(ScramError):
        server.handle_client_final(data)


@FUZZ
@given(st.binary(max_size=5000))
def test_fuzz_client_final(data: bytes) -> None:
    client = ScramClient("secret")
    client.client_first()
    with pytest.raises(ScramError):
        client.client_final(data)


@FUZZ
@given(EDITS)
def test_fuzz_mutated_server_first(edits: list[tuple[int, int, bytes]]) -> None:
    client = ScramClient("secret", nonce="C")
    client.client_first()
    with contextlib.suppress(ScramError):
        assert client.client_final(mutate(b"r=CSERVER,s=c2FsdA==,i=1", edits)).startswith(b"c=")


def client_awaiting_server_final() -> tuple[ScramClient, bytes]:
    client = ScramClient("secret", nonce="C")
    server = ScramServer(FAST_VERIFIER, nonce="S")
    server_first = server.handle_client_first(client.client_first())
    return client, server.handle_client_final(client.client_final(server_first))


@FUZZ
@given(st.binary(max_size=5000))
def test_fuzz_verify_server_final(data: bytes) -> None:
    client, _ = client_awaiting_server_final()
    with pytest.raises(ScramError):
        client.verify_server_final(data)


@FUZZ
@given(EDITS)
def test_fuzz_mutated_server_final(edits: list[tuple[int, int, bytes]]) -> None:
    client, server_final = client_awaiting_server_final()
    data = mutate(server_final, edits)
    try:
        client.verify_server_final(data)
    except ScramError:
        return
    # Only an appended, ignorable RFC 5802 extension may leave the signature valid.
    assert data == server_final or data.startswith(server_final + b",")
