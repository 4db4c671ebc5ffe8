"""Workload identity: service identities signing in with a JWT from a platform's issuer
(Kubernetes service-account tokens, GitHub Actions OIDC, SPIFFE JWT-SVIDs).

The issuer here is real in every way that matters to the gateway: an HTTP server on loopback
publishing a discovery document and a JWKS of keys generated for the run, signing tokens with
them (PyJWT). Each refusal is tried against the real signature check, and through the gateway
with psycopg; every refusal lands in the audit log as ``auth.failed`` with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import Upstream
from harness import running_gateway, self_signed_cert
from identity_support import identity_config
from wardgate.audit import iter_events, open_store
from wardgate.config import AuthConfig, GatewayConfig, OIDCConfig, WorkloadIdentityConfig
from wardgate.identity.jws import JWTError
from wardgate.identity.service import FederatedIdentity, IdentityServices
from wardgate.identity.store import IdentityStore
from wardgate.identity.workload import Workloads, validate_workload_token

AUDIENCE = "wardgate"
K8S_SUB = "system:serviceaccount:prod:reporter"
GHA_SUB = "repo:acme/etl:ref:refs/heads/main"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
NEW_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str, **extra: str) -> dict[str, Any]:
    algo = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(key, rsa.RSAPrivateKey)
        else jwt.algorithms.ECAlgorithm
    )
    data: dict[str, Any] = json.loads(algo.to_jwk(key.public_key()))
    return {**data, "kid": kid, **extra}


class Issuer:
    """A workload identity provider on loopback: discovery, JWKS; tokens signed by its keys."""

    def __init__(self, *, discovery: bool = True, tls: ssl.SSLContext | None = None) -> None:
        self.keys = [jwk(RSA_KEY, "k1", use="sig"), jwk(EC_KEY, "e1")]
        self.jwks_requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration" and discovery:
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys"}
                elif self.path == "/keys":
                    issuer.jwks_requests += 1
                    body = {"keys": issuer.keys}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def token(
        self, key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "k1", **over: Any
    ) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": K8S_SUB, "iat": now, "exp": now + 600}
        claims.update(over)
        payload = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(issuer: Issuer) -> str:
    """alg "none": a token anyone can make."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = {"iss": issuer.url, "aud": AUDIENCE, "sub": K8S_SUB, "iat": now, "exp": now + 600}
    return f"{header}.{_b64(json.dumps(body).encode())}."


def hmac_with_public_key(issuer: Issuer) -> str:
    """Algorithm confusion: HS256 keyed with the issuer's *public* key, which anyone can get."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = {"iss": issuer.url, "aud": AUDIENCE, "sub": K8S_SUB, "iat": now, "exp": now + 600}
    signing_input = f"{header}.{_b64(json.dumps(body).encode())}"
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mac = hmac.HMAC(public_pem, hashes.SHA256())
    mac.update(signing_input.encode())
    return f"{signing_input}.{_b64(mac.finalize())}"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    try:
        yield made
    finally:
        made.close()


def workload_config(issuer: Issuer, **over: Any) -> WorkloadIdentityConfig:
    raw: dict[str, Any] = {
        "issuer": issuer.url,
        "audiences": [AUDIENCE],
        "subjects": {K8S_SUB: "report-bot", GHA_SUB: "etl-job"},
        "jwks_min_refresh_interval": 0,
        **over,
    }
    return WorkloadIdentityConfig.model_validate(raw)


# --- the checks, against real signatures ------------------------------------------------------


def test_valid_tokens_map_their_subject(issuer: Issuer) -> None:
    config = workload_config(issuer)
    jwks = {"keys": issuer.keys}
    found = validate_workload_token(issuer.token(jti="abc"), jwks, config)
    assert (found.name, found.subject, found.token_id) == ("report-bot", K8S_SUB, "abc")
    ec_token = issuer.token(EC_KEY, "ES256", "e1", sub=GHA_SUB)
    assert validate_workload_token(ec_token, jwks, config).name == "etl-job"
    # SPIFFE trust bundles mark JWT-SVID keys "use": "jwt-svid"; a custom subject claim.
    svid_jwks = {"keys": [jwk(RSA_KEY, "k1", use="jwt-svid")]}
    spiffe = workload_config(
        issuer, subject_claim="spiffe_id", subjects={"spiffe://acme.org/etl": "etl-job"}
    )
    svid = issuer.token(spiffe_id="spiffe://acme.org/etl")
    assert validate_workload_token(svid, svid_jwks, spiffe).name == "etl-job"


def _refusals(issuer: Issuer) -> list[tuple[str, str, str]]:
    now = int(time.time())
    return [
        (issuer.token(aud="someone-else"), "wrong_audience", "another audience"),
        (issuer.token(iat=now - 7200, exp=now - 3600), "expired", "expired"),
        (issuer.token(iss="https://other.example.com"), "wrong_issuer", "another issuer"),
        (issuer.token(sub="system:serviceaccount:prod:other"), "unmapped_subject", "mapped"),
        (issuer.token(nbf=now + 3600), "not_yet_valid", "not valid yet"),
        (issuer.token(iat=now, exp=now + 3 * 86400), "too_long_lived", "max_lifetime"),
        (issuer.token(sub=None), "malformed", "'sub'"),
        (issuer.token(exp=None), "malformed", "'exp'"),
        (issuer.token(NEW_KEY, kid="k1"), "bad_signature", "signature"),
        (issuer.token(NEW_KEY, kid="k9"), "unknown_key", "no published key"),
        (unsigned(issuer), "bad_algorithm", "'none'"),
        (hmac_with_public_key(issuer), "bad_algorithm", "'HS256'"),
        ("eyJhbGciOiJSUzI1NiJ9.not-json.x", "malformed", "not a signed JWT"),
    ]


def test_bad_tokens_are_refused_with_a_reason(issuer: Issuer) -> None:
    config = workload_config(issuer)
    for token, code, match in _refusals(issuer):
        with pytest.raises(JWTError, match=match) as caught:
            validate_workload_token(token, {"keys": issuer.keys}, config)
        assert caught.value.code == code, (code, str(caught.value))
        assert token not in str(caught.value)


def test_keys_that_are_not_for_signatures_are_not_used(issuer: Issuer) -> None:
    config = workload_config(issuer)
    for jwks in (
        {"keys": [jwk(RSA_KEY, "k1", use="enc")]},
        {"keys": [{"kty": "oct", "k": _b64(b"s" * 32), "kid": "k1"}]},
        {"keys": "not a list"},
    ):
        with pytest.raises(JWTError) as caught:
            validate_workload_token(issuer.token(), jwks, config)
        assert caught.value.code == "unknown_key"


async def test_jwks_url_without_discovery_and_rotation() -> None:
    """With ``jwks_url`` no discovery is needed (Kubernetes serves it behind auth); a token
    signed by a new key makes one refetch, and the old key's tokens stop once it is gone."""
    bare = Issuer(discovery=False)
    try:
        config = workload_config(bare, jwks_url=f"{bare.url}/keys")
        workloads = Workloads((config,), None)
        route = workloads.route(bare.token())
        assert route is config and workloads.route(bare.token(iss="https://x.example")) is None
        assert (await workloads.validate(bare.token(), config)).name == "report-bot"
        old = bare.token()
        bare.keys = [jwk(NEW_KEY, "k2")]
        rotated = bare.token(NEW_KEY, kid="k2")
        assert (await workloads.validate(rotated, config)).name == "report-bot"
        assert bare.jwks_requests == 2
        with pytest.raises(JWTError, match="no published key"):
            await workloads.validate(old, config)
        await workloads.aclose()
    finally:
        bare.close()


async def test_keys_over_https_with_a_private_ca(tmp_path: Path) -> None:
    """A cluster's JWKS is served under the cluster's own CA: ``ca_file`` trusts it (relative
    to the config); without it the certificate does not verify and nobody signs in."""
    cert, key = self_signed_cert("cluster-ca")
    (tmp_path / "ca.crt").write_bytes(cert)
    (tmp_path / "ca.key").write_bytes(key)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(tmp_path / "ca.crt", tmp_path / "ca.key")
    secure = Issuer(tls=server_tls)
    try:
        trusted = workload_config(secure, jwks_url=f"{secure.url}/keys", ca_file="ca.crt")
        workloads = Workloads((trusted,), tmp_path)
        assert (await workloads.validate(secure.token(), trusted)).name == "report-bot"
        await workloads.aclose()
        untrusted = workload_config(secure, jwks_url=f"{secure.url}/keys")
        workloads = Workloads((untrusted,), tmp_path)
        with pytest.raises(JWTError, match="unavailable") as caught:
            await workloads.validate(secure.token(), untrusted)
        assert caught.value.code == "unavailable"
        await workloads.aclose()
    finally:
        secure.close()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"algorithms": ["HS256"]}, "asymmetric"),
        ({"algorithms": ["none"]}, "asymmetric"),
        ({"issuer": "http://idp.example.com"}, "https"),
        ({"jwks_url": "http://10.0.0.5/keys"}, "https"),
        ({"audiences": []}, "audiences"),
        ({"subjects": {}}, "subjects"),
        ({"subjects": {K8S_SUB: "x" * 64}}, "subjects"),
    ],
)
def test_config_refuses_unsafe_settings(change: dict[str, Any], match: str) -> None:
    raw = {"issuer": "https://k8s.example.com", "audiences": ["a"], "subjects": {"s": "n"}}
    with pytest.raises(ValueError, match=match):
        WorkloadIdentityConfig.model_validate({**raw, **change})


def test_config_needs_a_store_and_distinct_issuers() -> None:
    one = {"issuer": "https://k8s.example.com", "audiences": ["a"], "subjects": {"s": "n"}}
    with pytest.raises(ValueError, match=r"auth\.store"):
        AuthConfig.model_validate({"workload": [one]})
    with pytest.raises(ValueError, match="issuer twice"):
        AuthConfig.model_validate({"store": "ids.db", "workload": [one, one]})
    with pytest.raises(ValueError, match="https"):
        OIDCConfig(issuer="http://login.example.com", client_id="x")
    assert OIDCConfig(issuer="http://localhost:8080", client_id="x").jwks_url is None


# --- through the gateway, with psycopg ------------------------------------------------------


def _session_identity(gw: Any, name: str) -> FederatedIdentity:
    found = [s.identity for s in gw.gateway.sessions if s.identity and s.identity.name == name]
    assert len(found) == 1 and isinstance(found[0], FederatedIdentity)
    return found[0]


def _auth_failures(config: GatewayConfig, kind: str = "auth.failed") -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        store = await open_store(config.audit, config.base_dir)
        try:
            return [e.data async for e in iter_events(store) if e.type == kind]
        finally:
            await store.close()

    return asyncio.run(read())


def test_workloads_sign_in_through_the_gateway(
    upstream: Upstream, tmp_path: Path, issuer: Issuer
) -> None:
    raw = identity_config(upstream, tmp_path)
    raw["auth"]["workload"] = [
        {
            "issuer": issuer.url,
            "audiences": [AUDIENCE],
            "subjects": {K8S_SUB: "report-bot", GHA_SUB: "etl-job", "old:sub": "retired"},
            "jwks_min_refresh_interval": 0,
        }
    ]
    raw["auth"]["rate_limit"] = {"pair_burst": 100, "source_burst": 100, "user_burst": 100}
    raw["audit"] = {"store": str(tmp_path / "audit.db"), "sqlite_synchronous": "normal"}
    store = IdentityStore(tmp_path / "identities.db")
    store.create("report-bot", kind="agent", owner="alice@example.com", groups=("readers",))
    store.create("etl-job", kind="service", owner="data-team", groups=("etl",))
    store.create("retired", kind="service", owner="data-team", groups=())
    store.revoke("retired")
    good = issuer.token(jti="tok-1")
    refused: dict[str, tuple[str, str]] = {}  # token -> (user tried, expected reason)
    with running_gateway(raw) as gw:
        opts = "'-c wardgate.on_behalf_of=alice@example.com'"
        with psycopg.connect(gw.dsn(user="report-bot", password=good, options=opts)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("wardgate_svc",)
            ident = _session_identity(gw, "report-bot")
            assert ident.method == "workload_jwt" and ident.kind == "agent"
            assert ident.groups == ("readers",) and ident.owner == "alice@example.com"
            assert (ident.subject, ident.issuer) == (K8S_SUB, issuer.url)
            assert ident.credential_id == "tok-1" and ident.on_behalf_of == "alice@example.com"
        gha = issuer.token(EC_KEY, "ES256", "e1", sub=GHA_SUB)
        with psycopg.connect(gw.dsn(user="etl-job", password=gha)) as conn:
            assert _session_identity(gw, "etl-job").kind == "service"

        now = int(time.time())
        cases = [
            ("report-bot", issuer.token(aud="kubernetes.default.svc"), "wrong_audience"),
            ("report-bot", issuer.token(iat=now - 7200, exp=now - 3600), "expired"),
            ("report-bot", issuer.token(sub="system:serviceaccount:dev:x"), "unmapped_subject"),
            ("etl-job", good, "wrong_user"),  # report-bot's token, another identity's name
            ("retired", issuer.token(sub="old:sub"), "revoked"),
            ("report-bot", unsigned(issuer), "bad_algorithm"),
            ("report-bot", hmac_with_public_key(issuer), "bad_algorithm"),
        ]
        for user, token, reason in cases:
            refused[token] = (user, reason)
            with pytest.raises(psycopg.OperationalError, match="authentication failed"):
                psycopg.connect(gw.dsn(user=user, password=token))
        # Another issuer entirely: no workload provider (and no OIDC) claims it.
        stranger = issuer.token(iss="https://token.actions.githubusercontent.com")
        refused[stranger] = ("report-bot", "unsupported")
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(gw.dsn(user="report-bot", password=stranger))
        # Revoking the identity ends its workload sign-in at once, as it ends its API keys.
        store.revoke("report-bot")
        fresh = issuer.token(jti="tok-2")
        refused[fresh] = ("report-bot", "revoked")
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(gw.dsn(user="report-bot", password=fresh))

    started = {e["user"]: e for e in _auth_failures(gw.config, "session.started")}
    bot = started["report-bot"]
    assert (bot["credential_method"], bot["credential_id"]) == ("workload_jwt", "tok-1")
    assert (bot["issuer"], bot["subject"]) == (issuer.url, K8S_SUB)
    assert (bot["owner"], bot["on_behalf_of"]) == ("alice@example.com", "alice@example.com")
    assert started["etl-job"]["credential_method"] == "workload_jwt"
    failures = _auth_failures(gw.config)
    seen = {(f["user"], f["method"], f["reason"]) for f in failures}
    for user, reason in refused.values():
        method = "unknown" if reason == "unsupported" else "workload_jwt"
        assert (user, method, reason) in seen, (user, reason, seen)
    assert all(f["client_addr"].startswith("127.0.0.1:") for f in failures)
    # No token, nor its claims or signature part, is anywhere in the audit store's files.
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
    assert blob
    for token in [good, gha, *refused]:
        _, body, signature = token.split(".")
        assert token.encode() not in blob and body.encode() not in blob
        assert not signature or signature.encode() not in blob


def test_one_issuer_for_people_and_workloads_is_told_apart_by_user_name(
    upstream: Upstream, tmp_path: Path, issuer: Issuer
) -> None:
    """A cloud tenant's issuer signs people's ID tokens and workloads' tokens alike: a user name
    mapped from a workload subject makes the token a workload's, any other a person's."""
    raw = identity_config(upstream, tmp_path)
    raw["auth"]["oidc"] = {"issuer": issuer.url, "client_id": AUDIENCE}
    raw["auth"]["workload"] = [
        {"issuer": issuer.url, "audiences": [AUDIENCE], "subjects": {K8S_SUB: "report-bot"}}
    ]
    services = IdentityServices(GatewayConfig.model_validate(raw))
    token = issuer.token()
    assert services._route("report-bot", token)[0] == "workload_jwt"
    assert services._route("alice@example.com", token)[0] == "oidc_token"
    assert services._route("x", "wga_" + "0" * 12 + "_" + "0" * 64)[0] == "api_key"
    assert services._route("x", "hunter2")[0] == "unknown"
