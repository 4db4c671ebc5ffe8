"""SCRAM-SHA-256 (RFC 5802 / RFC 7677) and md5 password helpers, without I/O.

Kept free of sockets and event loops so the same code serves both directions of
the gateway (clients -> gateway, gateway -> upstream PostgreSQL) and can be
fuzzed directly. Error messages never carry secrets because callers forward
them to untrusted peers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass, field
from typing import ClassVar

MAX_MESSAGE_LEN = 4096
_KEY_LEN = 32
_DEFAULT_ITERATIONS = 4096
_MAX_CLIENT_ITERATIONS = 10_000_000  # a hostile upstream must not pin our CPU
_MAX_VERIFIER_ITERATIONS = 2**31 - 1  # PostgreSQL stores iterations as a C int
_AUTH_FAILED = "password authentication failed"
# RFC 4013 section 2.3 prohibited output, plus unassigned code points (RFC 3454 A.1)
_PROHIBITED_TABLES = ("c21_c22", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "a1")
_PROHIBITED = tuple(getattr(stringprep, f"in_table_{t}") for t in _PROHIBITED_TABLES)


class ScramError(Exception):
    """Authentication failed or the peer sent a malformed SCRAM message.

    The message text is safe to show to a client (never contains secrets).
    """


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.digest(key, msg, "sha256")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict decoding, so that two spellings of one value cannot both verify."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:  # binascii.Error and UnicodeEncodeError are both ValueErrors
        raise ScramError("malformed SCRAM message") from None


def _saslprep(password: str) -> bytes:
    """Normalise like PostgreSQL's pg_saslprep, quirks included.

    Verifiers and proofs only match if every party hashes the same bytes, so we
    follow PostgreSQL rather than the RFC where they differ: pure ASCII skips all
    processing, and the prohibition and bidi checks look at the mapped string
    *before* NFKC. Whenever SASLprep fails, PostgreSQL (server and libpq) falls
    back to the raw bytes, and so do we.
    """
    if password.isascii():
        return password.encode("ascii")
    try:
        raw = password.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: PostgreSQL would see invalid UTF-8
        return password.encode("utf-8", "surrogateescape")
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else "" if stringprep.in_table_b1(ch) else ch
        for ch in password
    )
    if not mapped:
        return raw
    if any(check(ch) for ch in mapped for check in _PROHIBITED):
        return raw
    if any(stringprep.in_table_d1(ch) for ch in mapped) and (
        any(stringprep.in_table_d2(ch) for ch in mapped)
        or not stringprep.in_table_d1(mapped[0])
        or not stringprep.in_table_d1(mapped[-1])
    ):
        return raw
    return unicodedata.normalize("NFKC", mapped).encode("utf-8")


def _derive_keys(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return client_key, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key")


def _decode(data: bytes) -> str:
    """Bound the input before any work, so a peer cannot make us parse megabytes."""
    if len(data) > MAX_MESSAGE_LEN:
        raise ScramError("SCRAM message too long")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramError("malformed SCRAM message") from None


def _attrs(text: str, names: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Split ``a=v,...`` whose leading attribute names must be exactly ``names``.

    Trailing attributes are returned because RFC 5802 says unknown extensions
    are ignored; the reserved mandatory-extension ``m`` always fails.
    """
    parsed: list[tuple[str, str]] = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=" or not (part[0].isascii() and part[0].isalpha()):
            raise ScramError("malformed SCRAM message")
        if part[0] == "m":
            raise ScramError("SCRAM mandatory extensions are not supported")
        parsed.append((part[0], part[2:]))
    if len(parsed) < len(names) or any(p[0] != n for p, n in zip(parsed, names, strict=False)):
        raise ScramError("malformed SCRAM message")
    return [v for _, v in parsed[: len(names)]], parsed[len(names) :]


def _is_nonce(value: str) -> bool:
    return bool(value) and all("!" <= ch <= "~" and ch != "," for ch in value)


def _is_digits(value: str, max_len: int) -> bool:
    # int() alone would accept "+1", " 1", "1_0" and non-ASCII digits.
    return 0 < len(value) <= max_len and all("0" <= c <= "9" for c in value)


def _checked_nonce(nonce: str | None) -> str:
    if nonce is None:
        return _b64(secrets.token_bytes(18))  # same entropy as PostgreSQL's nonces
    if not _is_nonce(nonce):
        raise ValueError("nonce must be non-empty printable ASCII without ','")
    return nonce


def _unescape_saslname(value: str) -> str:
    # RFC 5802 5.1: an '=' not starting "=2C" or "=3D" MUST fail the exchange.
    if any(piece[:2] not in ("2C", "3D") for piece in value.split("=")[1:]):
        raise ScramError("malformed SCRAM message")
    return value.replace("=2C", ",").replace("=3D", "=")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScramVerifier:
    """What PostgreSQL stores in pg_authid.rolpassword instead of the password.

    The keys are hidden from repr because StoredKey plus one observed exchange
    is enough to impersonate the user.
    """

    iterations: int
    salt: bytes
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.iterations <= _MAX_VERIFIER_ITERATIONS or not self.salt:
            raise ValueError("invalid SCRAM verifier parameters")
        if len(self.stored_key) != _KEY_LEN or len(self.server_key) != _KEY_LEN:
            raise ValueError("invalid SCRAM verifier key length")

    @classmethod
    def parse(cls, text: str) -> ScramVerifier:
        """Accept verifiers copied from PostgreSQL; the text is never echoed back."""
        mechanism, _, rest = text.partition("$")
        params, _, keys = rest.partition("$")
        fields = [*params.split(":"), *keys.split(":")]
        if mechanism != "SCRAM-SHA-256" or len(fields) != 4 or not _is_digits(fields[0], 10):
            raise ValueError("invalid SCRAM verifier")
        try:
            salt, stored_key, server_key = (_b64decode(v) for v in fields[1:])
        except ScramError:
            raise ValueError("invalid SCRAM verifier") from None
        return cls(
            iterations=int(fields[0]), salt=salt, stored_key=stored_key, server_key=server_key
        )

    def to_text(self) -> str:
        return (
            f"SCRAM-SHA-256${self.iterations}:{_b64(self.salt)}"
            f"${_b64(self.stored_key)}:{_b64(self.server_key)}"
        )


def make_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = _DEFAULT_ITERATIONS
) -> ScramVerifier:
    """Build verifiers interchangeable with those PostgreSQL stores, so either can be used."""
    salt = secrets.token_bytes(16) if salt is None else salt
    if not 1 <= iterations <= _MAX_VERIFIER_ITERATIONS or not salt:
        raise ValueError("invalid SCRAM verifier parameters")
    _, stored_key, server_key = _derive_keys(_saslprep(password), salt, iterations)
    return ScramVerifier(
        iterations=iterations, salt=salt, stored_key=stored_key, server_key=server_key
    )


def verify_password(verifier: ScramVerifier, password: str) -> bool:
    """Whether ``password`` is the one the verifier was made from (constant-time compare).

    For local tools that ask a person for their gateway password (``wardgate unmask``); the
    wire protocol never sends the password and uses the SCRAM exchange instead.
    """
    _, stored_key, _ = _derive_keys(_saslprep(password), verifier.salt, verifier.iterations)
    return hmac.compare_digest(stored_key, verifier.stored_key)


def mock_salt(key: bytes, username: str) -> bytes:
    """A salt for a user that does not exist, the same on every attempt for one ``key``.

    Keyed with a secret so it cannot be computed from outside, which would again tell a missing
    user apart from a real one.
    """
    return hmac.new(
        key, b"mock-salt\0" + username.encode("utf-8", "surrogateescape"), hashlib.sha256
    ).digest()[:16]


class ScramServer:
    """Server side of one SCRAM-SHA-256 exchange, without channel binding.

    Only "SCRAM-SHA-256" is advertised, so a client sending gs2 flag 'y' (it
    supports binding but believes we do not) is telling the truth and is
    accepted; 'p' is refused. An unknown user (verifier None) gets a random
    salt and random keys and fails only at the proof, with the same message as
    a wrong password. Pass ``mock_salt`` (see `mock_salt`) so the salt is also
    stable across attempts, as PostgreSQL's is: otherwise two tries tell a
    missing user (salt changes) from a real one (salt stays).
    """

    mechanisms: ClassVar[tuple[str, ...]] = ("SCRAM-SHA-256",)

    def __init__(
        self,
        verifier: ScramVerifier | None,
        *,
        nonce: str | None = None,
        mock_salt: bytes | None = None,
    ) -> None:
        self._known = verifier is not None
        self._verifier = verifier or ScramVerifier(
            iterations=_DEFAULT_ITERATIONS,
            salt=mock_salt or secrets.token_bytes(16),
            stored_key=secrets.token_bytes(_KEY_LEN),
            server_key=secrets.token_bytes(_KEY_LEN),
        )
        self._server_nonce = _checked_nonce(nonce)
        self._stage = 0  # 0: want client-first, 1: want client-final, 2: finished
        self._username = self._nonce = self._first_bare = self._server_first = ""
        self._gs2_header = b""

    @property
    def username(self) -> str:
        return self._username

    def handle_client_first(self, data: bytes) -> bytes:
        if self._stage != 0:
            raise ScramError("unexpected SCRAM message")
        self._stage = 2  # any failure below ends the exchange
        text = _decode(data)
        flag, _, rest = text.partition(",")
        authzid, sep, bare = rest.partition(",")
        if flag == "p" or flag.startswith("p="):
            raise ScramError("SCRAM channel binding is not supported")
        if flag not in ("n", "y") or not sep:
            raise ScramError("malformed SCRAM message")
        if authzid:
            raise ScramError("SCRAM authorization identity is not supported")
        (username, nonce), _ = _attrs(bare, "nr")
        if not _is_nonce(nonce):
            raise ScramError("malformed SCRAM message")
        self._username = _unescape_saslname(username)
        self._gs2_header = f"{flag},,".encode("ascii")
        self._nonce = nonce + self._server_nonce
        self._first_bare = bare
        v = self._verifier
        self._server_first = f"r={self._nonce},s={_b64(v.salt)},i={v.iterations}"
        self._stage = 1
        return self._server_first.encode("ascii")

    def handle_client_final(self, data: bytes) -> bytes:
        if self._stage != 1:
            raise ScramError("unexpected SCRAM message")
        self._stage = 2
        text = _decode(data)
        (binding, nonce), rest = _attrs(text, "cr")
        if not rest or rest[-1][0] != "p":
            raise ScramError("malformed SCRAM message")
        if not hmac.compare_digest(_b64decode(binding), self._gs2_header):
            raise ScramError("SCRAM channel binding mismatch")
        if not hmac.compare_digest(nonce.encode("utf-8"), self._nonce.encode("ascii")):
            raise ScramError("SCRAM nonce mismatch")
        proof = _b64decode(rest[-1][1])
        if len(proof) != _KEY_LEN:
            raise ScramError("malformed SCRAM message")
        without_proof = text[: text.rindex(",p=")]
        auth = f"{self._first_bare},{self._server_first},{without_proof}".encode()
        v = self._verifier
        signature = _hmac(v.stored_key, auth)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        matches = hmac.compare_digest(hashlib.sha256(client_key).digest(), v.stored_key)
        if not (matches and self._known):
            raise ScramError(_AUTH_FAILED)
        return b"v=" + base64.b64encode(_hmac(v.server_key, auth))


class ScramClient:
    """Client side, used for upstream connections.

    PostgreSQL ignores the SCRAM user name (the startup packet names the role),
    so it defaults to empty as in libpq; ``username`` exists for RFC test vectors.
    """

    def __init__(self, password: str, *, nonce: str | None = None, username: str = "") -> None:
        self._password = _saslprep(password)
        self._nonce = _checked_nonce(nonce)
        name = username.replace("=", "=3D").replace(",", "=2C")
        self._first_bare = f"n={name},r={self._nonce}"
        self._server_signature = b""
        self._stage = 0  # 0: fresh, 1: sent first, 2: sent final, 3: finished

    def client_first(self) -> bytes:
        if self._stage != 0:
            raise ScramError("unexpected SCRAM step")
        self._stage = 1
        return f"n,,{self._first_bare}".encode()

    def client_final(self, server_first: bytes) -> bytes:
        if self._stage != 1:
            raise ScramError("unexpected SCRAM step")
        self._stage = 3
        text = _decode(server_first)
        (nonce, salt_b64, iter_text), _ = _attrs(text, "rsi")
        # The server must extend our nonce; otherwise it contributes no freshness.
        if not (_is_nonce(nonce) and nonce.startswith(self._nonce) and nonce != self._nonce):
            raise ScramError("SCRAM nonce mismatch")
        salt = _b64decode(salt_b64)
        if not salt or not _is_digits(iter_text, 8):
            raise ScramError("malformed SCRAM message")
        iterations = int(iter_text)
        if not 1 <= iterations <= _MAX_CLIENT_ITERATIONS:
            raise ScramError("unacceptable SCRAM iteration count")
        client_key, stored_key, server_key = _derive_keys(self._password, salt, iterations)
        without_proof = f"c=biws,r={nonce}"
        auth = f"{self._first_bare},{text},{without_proof}".encode()
        signature = _hmac(stored_key, auth)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = _hmac(server_key, auth)
        self._stage = 2
        return f"{without_proof},p={_b64(proof)}".encode("ascii")

    def verify_server_final(self, server_final: bytes) -> None:
        """Proves the upstream knows the verifier, not merely that it let us in."""
        if self._stage != 2:
            raise ScramError("unexpected SCRAM step")
        self._stage = 3
        text = _decode(server_final)
        name, _, value = text.partition("=")
        if name == "e":
            # Only echo RFC-style error tokens ("invalid-proof"), not arbitrary peer text.
            safe = len(value) <= 64 and value.isascii() and value.replace("-", "").isalnum()
            raise ScramError(f"server rejected SCRAM authentication: {value if safe else '?'}")
        (signature,), _ = _attrs(text, "v")
        if not hmac.compare_digest(_b64decode(signature), self._server_signature):
            raise ScramError("SCRAM server signature mismatch")


def md5_password_response(user: str, password: str, salt: bytes) -> bytes:
    """PostgreSQL AuthenticationMD5Password response.

    b"md5" + md5hex(md5hex(password + user) + salt), NUL not included. md5 is
    mandated by the legacy protocol; usedforsecurity=False keeps it working on
    FIPS-mode interpreters.
    """
    if len(salt) != 4:
        raise ValueError("md5 salt must be 4 bytes")
    inner = hashlib.md5((password + user).encode("utf-8"), usedforsecurity=False).hexdigest()
    outer = hashlib.md5(inner.encode("ascii") + salt, usedforsecurity=False).hexdigest()
    return b"md5" + outer.encode("ascii")
