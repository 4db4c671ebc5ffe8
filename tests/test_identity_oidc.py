"""OIDC token validation: each attack or mistake against a real signature check (PyJWT, our keys).

Keys are generated here and the JWKS handed in as a dict; fetching is tested with a real provider
in test_identity_login.py.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from wardgate.config import OIDCConfig
from wardgate.identity.oidc import (
    KeyNotFoundError,
    OIDCError,
    SignatureMismatchError,
    map_groups,
    validate_token,
)

ISSUER = "https://idp.example.com"
CONFIG = OIDCConfig(
    issuer=ISSUER,
    client_id="wardgate",
    group_map={"db-admins": ("dba", "ops"), "analysts": ("readers",)},
)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algo = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(key, rsa.RSAPrivateKey)
        else jwt.algorithms.ECAlgorithm
    )
    data: dict[str, Any] = json.loads(algo.to_jwk(key.public_key()))
    data["kid"] = kid
    return data


JWKS = {"keys": [_jwk(RSA_KEY, "r1"), _jwk(EC_KEY, "e1")]}


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": "wardgate",
        "sub": "u-123",
        "email": "alice@example.com",
        "email_verified": True,
        "groups": ["db-admins", "eng"],
        "iat": now,
        "exp": now + 300,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    payload: dict[str, Any], key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "r1"
) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_valid_tokens_rsa_and_ec_map_groups() -> None:
    found = validate_token(sign(claims()), JWKS, CONFIG)
    assert found.name == "alice@example.com" and found.subject == "u-123"
    assert found.groups == ("dba", "eng", "ops") and found.idp_groups == ("db-admins", "eng")
    found = validate_token(sign(claims(), EC_KEY, "ES256", "e1"), JWKS, CONFIG)
    assert found.name == "alice@example.com"


def test_key_without_kid_is_found_by_type() -> None:
    assert validate_token(sign(claims(), kid=None), JWKS, CONFIG).name == "alice@example.com"


def _hs256_with(secret: bytes, payload: dict[str, Any]) -> str:
    """HS256 made by hand: PyJWT rightly refuses to use a PEM public key as an HMAC secret."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "r1"}).encode())
    body = _b64(json.dumps(payload).encode())
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(f"{head}.{body}".encode())
    return f"{head}.{body}.{_b64(mac.finalize())}"


def _alg_none(payload: dict[str, Any]) -> str:
    head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{_b64(json.dumps(payload).encode())}."


PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["groups"] = ["db-admins", "superusers"]
    return f"{head}.{_b64(json.dumps(payload).encode())}.{sig}"


BAD: list[tuple[str, Any, type[Exception], str]] = [
    (
        "expired",
        lambda: sign(claims(exp=int(time.time()) - 120, iat=int(time.time()) - 600)),
        OIDCError,
        "expired",
    ),
    ("nbf in future", lambda: sign(claims(nbf=int(time.time()) + 600)), OIDCError, "not valid yet"),
    (
        "iat in future",
        lambda: sign(claims(iat=int(time.time()) + 600, exp=int(time.time()) + 900)),
        OIDCError,
        "not valid yet",
    ),
    ("wrong audience", lambda: sign(claims(aud="someone-else")), OIDCError, "audience"),
    ("wrong issuer", lambda: sign(claims(iss="https://evil.example.com")), OIDCError, "issuer"),
    ("no exp", lambda: sign(claims(exp=None)), OIDCError, "'exp'"),
    ("no sub", lambda: sign(claims(sub=None)), OIDCError, "'sub'"),
    ("alg none", lambda: _alg_none(claims()), OIDCError, "'none' is not accepted"),
    (
        "HS256 keyed with the public PEM",
        lambda: _hs256_with(PUBLIC_PEM, claims()),
        OIDCError,
        "HS256",
    ),
    (
        "HS256 keyed with the modulus",
        lambda: _hs256_with(RSA_KEY.public_key().public_numbers().n.to_bytes(256, "big"), claims()),
        OIDCError,
        "HS256",
    ),
    ("tampered payload", lambda: _tamper(sign(claims())), SignatureMismatchError, "signature"),
    (
        "signed by another key, same kid",
        lambda: sign(claims(), OTHER_RSA),
        SignatureMismatchError,
        "signature",
    ),
    (
        "unknown kid",
        lambda: sign(claims(), OTHER_RSA, kid="r2"),
        KeyNotFoundError,
        "no published key",
    ),
    (
        "EC alg naming the RSA kid",
        lambda: sign(claims(), EC_KEY, "ES256", "r1"),
        KeyNotFoundError,
        "no published key",
    ),
    ("email not verified", lambda: sign(claims(email_verified=False)), OIDCError, "not verified"),
    ("no user name claim", lambda: sign(claims(email=None)), OIDCError, "'email'"),
    (
        "user name too long",
        lambda: sign(claims(email="a" * 60 + "@example.com")),
        OIDCError,
        "user name",
    ),
    (
        "azp of another client",
        lambda: sign(claims(aud=["wardgate", "x"], azp="x")),
        OIDCError,
        "azp",
    ),
    ("groups not a list", lambda: sign(claims(groups={"a": 1})), OIDCError, "groups"),
    ("garbage", lambda: "not.a.jwt", OIDCError, "not a signed JWT"),
]


@pytest.mark.parametrize("make, error, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_tokens_are_refused(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        validate_token(make(), JWKS, CONFIG)


def test_symmetric_keys_in_a_jwks_are_never_used() -> None:
    secret = b"s" * 32
    jwks = {"keys": [{"kty": "oct", "k": _b64(secret), "kid": "h1"}]}
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "h1"})
    with pytest.raises(OIDCError, match="HS256"):
        validate_token(token, jwks, CONFIG)
    # Even if an operator could list HS256 (the config refuses), an 'oct' key is skipped.
    with pytest.raises(ValueError, match="asymmetric"):
        OIDCConfig(issuer=ISSUER, client_id="x", algorithms=("RS256", "HS256"))
    with pytest.raises(ValueError, match="asymmetric"):
        OIDCConfig(issuer=ISSUER, client_id="x", algorithms=("none",))


def test_clock_skew_is_tolerated_but_bounded() -> None:
    now = int(time.time())
    # Expired 30 s ago: within the default 60 s leeway.
    assert validate_token(sign(claims(exp=now - 30, iat=now - 300)), JWKS, CONFIG)
    strict = CONFIG.model_copy(update={"clock_skew": 0})
    with pytest.raises(OIDCError, match="expired"):
        validate_token(sign(claims(exp=now - 30, iat=now - 300)), JWKS, strict)


@pytest.mark.parametrize(
    "idp, mapping, only_mapped, expected",
    [
        ((), {}, False, ()),
        (("a", "b"), {}, False, ("a", "b")),
        (("a", "b"), {"a": ("x", "y")}, False, ("b", "x", "y")),
        (("a", "b"), {"a": ("x",)}, True, ("x",)),
        (("a", "a"), {"a": ("x",), "b": ("z",)}, True, ("x",)),
    ],
)
def test_group_mapping(
    idp: tuple[str, ...],
    mapping: dict[str, tuple[str, ...]],
    only_mapped: bool,
    expected: tuple[str, ...],
) -> None:
    assert map_groups(idp, mapping, only_mapped=only_mapped) == expected


def test_groups_as_a_space_separated_string_and_custom_claims() -> None:
    cfg = CONFIG.model_copy(
        update={"username_claim": "preferred_username", "groups_claim": "roles"}
    )
    token = sign(claims(preferred_username="alice", roles="analysts eng"))
    found = validate_token(token, JWKS, cfg)
    assert found.name == "alice" and found.groups == ("eng", "readers")
