"""Gateway configuration: one YAML file, validated by pydantic before anything listens.

Upstream credentials are *references* (``env:NAME`` or ``file:PATH``) resolved when a connection
is opened, so a rotated secret file takes effect without a restart and no password has to sit in
the config in plain text. `SecretRef.__repr__` never shows a resolved value, so a config object can
be logged safely.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ApiConfig",
    "ApprovalsConfig",
    "AuditConfig",
    "AuthConfig",
    "ConfigError",
    "ConnectionConfig",
    "GatewayConfig",
    "IdentityConfig",
    "ListenConfig",
    "OIDCConfig",
    "RateLimitConfig",
    "SecretRef",
    "SlackConfig",
    "TLSConfig",
    "TeamsConfig",
    "TokenConfig",
    "WebhookConfig",
    "WorkloadIdentityConfig",
    "load_config",
]


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


class SecretRef(BaseModel):
    """A pointer to a secret, never the secret itself."""

    model_config = ConfigDict(frozen=True)
    ref: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return {"ref": value}
        return value

    @field_validator("ref")
    @classmethod
    def _check(cls, ref: str) -> str:
        scheme, sep, rest = ref.partition(":")
        if not sep or scheme not in ("env", "file") or not rest:
            raise ValueError("a secret must be a reference: 'env:VARIABLE' or 'file:/path'")
        return ref

    def resolve(self, base: Path | None = None) -> str:
        scheme, _, rest = self.ref.partition(":")
        if scheme == "env":
            value = os.environ.get(rest)
            if value is None:
                raise ConfigError(f"environment variable {rest} (named by a secret ref) is not set")
            return value
        path = Path(rest)
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            return path.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None

    def __repr__(self) -> str:
        return f"SecretRef({self.ref!r})"

    __str__ = __repr__


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=6432, ge=0, le=65535)


class TLSConfig(_Model):
    """TLS towards clients. ``require`` refuses clients that do not ask for TLS."""

    cert: Path
    key: Path
    require: bool = False


class ConnectionConfig(_Model):
    """A named upstream database; clients pick it by the database name they connect to."""

    name: Annotated[str, Field(min_length=1, max_length=63)]
    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    database: str
    user: str
    password: SecretRef | None = None
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    sslrootcert: Path | None = None
    connect_timeout: float = Field(default=10.0, gt=0)
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _verify_needs_ca(self) -> ConnectionConfig:
        if self.sslmode in ("verify-ca", "verify-full") and self.sslrootcert is None:
            raise ValueError(f"sslmode {self.sslmode} needs sslrootcert")
        return self


class IdentityConfig(_Model):
    """A local gateway identity. Only a SCRAM verifier is stored, never a password.

    ``auth: token`` identities sign in with a gateway access token instead (sent as a password,
    so accepted only over TLS or from loopback).
    """

    name: Annotated[str, Field(min_length=1, max_length=63)]
    auth: Literal["scram", "token"] = "scram"
    scram_verifier: str | None = None
    groups: tuple[str, ...] = ()
    kind: Literal["human", "agent", "service"] = "human"

    @field_validator("scram_verifier")
    @classmethod
    def _parse_verifier(cls, text: str | None) -> str | None:
        from wardgate.pgwire._scram import ScramVerifier

        if text is not None:
            ScramVerifier.parse(text)
        return text

    @model_validator(mode="after")
    def _method_has_credentials(self) -> IdentityConfig:
        if self.auth == "scram" and self.scram_verifier is None:
            raise ValueError(f"identity {self.name!r} uses scram but has no scram_verifier")
        return self


class TokenConfig(_Model):
    """Signing key and lifetime cap for gateway access tokens."""

    signing_key: SecretRef
    max_ttl: float = Field(default=12 * 3600, gt=0, description="seconds")
    # Loopback traffic never leaves the machine, so the demo may send tokens without TLS.
    allow_loopback_plaintext: bool = True


class MaskingConfig(_Model):
    """Keys and catalog settings for masking.

    ``keys`` feed the deterministic tokens and format-preserving encryption; the same key gives
    the same tokens across restarts and gateways (so joins on masked data keep working). Without
    one the gateway makes a random key at start and says so: tokens then change on restart.
    Rotation: add the new key under a new id, make it ``current``; old ids stay for unmasking.
    """

    keys: dict[str, SecretRef] = Field(default_factory=dict)
    current: str | None = None
    catalog_ttl: float = Field(default=300.0, gt=0, description="seconds")
    sample_tables: int = Field(default=200, ge=0)
    # Entries per generation of each memo of masked values (a memo holds at most twice this);
    # 0 turns the memos off. Larger memos help columns with many repeating values and hold more
    # clear values in memory: see docs/masking.md. Same default as the operators' MEMO_SIZE.
    memo_size: int = Field(default=4096, ge=0, le=1_000_000)
    # Show real table and column names from the system catalog to masked identities (psql's \d,
    # an agent's describe tool). Only safe where no identity that is ever masked may create or
    # rename objects (ddl, procedural or admin kinds, or functions doing so): such an identity
    # could name a table after a masked value for anyone to read. See docs/masking.md.
    trust_catalog_names: bool = False

    @model_validator(mode="after")
    def _current_is_a_key(self) -> MaskingConfig:
        if self.keys and (self.current or "") not in self.keys:
            raise ValueError("masking.current must name one of masking.keys")
        return self


_ASYMMETRIC_JWS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_DEFAULT_JWS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


def _asymmetric_algorithms(algs: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Asymmetric JWS algorithms only: `none` and HS* (algorithm confusion) cannot be listed."""
    bad = sorted(set(algs) - _ASYMMETRIC_JWS)
    if bad or not algs:
        raise ValueError(f"{where}.algorithms must be asymmetric JWS algorithms, not {bad}")
    return algs


def _key_url(url: str, what: str) -> str:
    """Where signing keys come from: HTTPS, or plain HTTP to this machine only (tests, sidecars).
    Keys fetched over plain HTTP from elsewhere could be swapped by anyone on the path."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and (host == "localhost" or _loopback_ip(host)):
        return url
    raise ValueError(f"{what} must be an https:// URL (plain http only to loopback): {url!r}")


def _loopback_ip(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OIDCConfig(_Model):
    """The organisation's OpenID Connect provider (see docs/identity.md).

    ``issuer`` must equal the provider's ``iss`` exactly; the discovery document is read from
    ``<issuer>/.well-known/openid-configuration`` (``jwks_url`` skips it for the gateway's key
    fetches; `wardgate login` still needs discovery). ``audiences`` defaults to ``client_id``.
    ``username_claim`` names the person (becomes the PostgreSQL user name they connect as);
    ``groups_claim`` carries their groups, which ``group_map`` renames to gateway groups
    (one IdP group may give several); with ``only_mapped_groups`` unmapped IdP groups are dropped.
    ``algorithms`` is the allow-list: asymmetric algorithms only, so `none` and HS256-with-a-
    public-key (algorithm confusion) can never be configured in.
    """

    issuer: Annotated[str, Field(min_length=8)]
    client_id: Annotated[str, Field(min_length=1)]
    # Public clients (a CLI) often get a "secret" that is not secret; some IdPs insist on one.
    client_secret: SecretRef | None = None
    audiences: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    username_claim: str = "email"
    groups_claim: str = "groups"
    group_map: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    only_mapped_groups: bool = False
    algorithms: tuple[str, ...] = _DEFAULT_JWS
    clock_skew: float = Field(default=60.0, ge=0, le=600, description="seconds")
    jwks_url: str | None = None
    jwks_min_refresh_interval: float = Field(default=30.0, ge=0, description="seconds")
    http_timeout: float = Field(default=10.0, gt=0)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, algs: tuple[str, ...]) -> tuple[str, ...]:
        return _asymmetric_algorithms(algs, "oidc")

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, issuer: str) -> str:
        return _key_url(issuer, "oidc.issuer")

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, url: str | None) -> str | None:
        return None if url is None else _key_url(url, "oidc.jwks_url")

    @property
    def accepted_audiences(self) -> tuple[str, ...]:
        return self.audiences or (self.client_id,)


class WorkloadIdentityConfig(_Model):
    """A workload identity provider: its signed JWTs let *service identities* sign in.

    Kubernetes service-account tokens, GitHub Actions OIDC tokens, SPIFFE JWT-SVIDs: a workload
    sends the JWT as its password, and the gateway checks it like an OIDC ID token (signature
    by a key in the issuer's JWKS, ``iss``, ``aud``, ``exp``/``nbf``/``iat`` with ``clock_skew``,
    ``algorithms`` asymmetric only). ``subjects`` maps the ``subject_claim`` value (default
    ``sub``, e.g. ``system:serviceaccount:prod:reporter``) to the name of a service identity in
    ``auth.store``; the workload connects as that name. Nothing unmapped gets in: a valid token
    for another workload of the same cluster or repository is refused. Keys come from
    ``jwks_url``, or from the issuer's discovery document when it is not set; ``ca_file``
    (relative to the config) verifies a private CA such as a cluster's. Tokens whose lifetime
    (``exp - iat``) exceeds ``max_lifetime`` are refused: a leaked long-lived token is a key.
    """

    issuer: Annotated[str, Field(min_length=8)]
    audiences: Annotated[tuple[str, ...], Field(min_length=1)]
    subjects: Annotated[dict[str, str], Field(min_length=1)]
    subject_claim: Annotated[str, Field(min_length=1)] = "sub"
    jwks_url: str | None = None
    ca_file: Path | None = None
    algorithms: tuple[str, ...] = _DEFAULT_JWS
    clock_skew: float = Field(default=60.0, ge=0, le=600, description="seconds")
    max_lifetime: float = Field(default=24 * 3600, gt=0, description="seconds")
    jwks_min_refresh_interval: float = Field(default=30.0, ge=0, description="seconds")
    http_timeout: float = Field(default=10.0, gt=0)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, algs: tuple[str, ...]) -> tuple[str, ...]:
        return _asymmetric_algorithms(algs, "workload")

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, issuer: str) -> str:
        return _key_url(issuer, "workload.issuer")

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, url: str | None) -> str | None:
        return None if url is None else _key_url(url, "workload.jwks_url")

    @field_validator("subjects")
    @classmethod
    def _identity_names(cls, subjects: dict[str, str]) -> dict[str, str]:
        for subject, name in subjects.items():
            if not subject or not 0 < len(name.encode()) <= 63:
                raise ValueError(f"workload.subjects: bad entry {subject!r}: {name!r}")
        return subjects


class RateLimitConfig(_Model):
    """Failed sign-ins allowed before the gateway refuses without asking for a password.

    Three token buckets, each holding ``*_burst`` failures and refilling ``*_per_minute``:
    one per (source address, user), one per source address (password spraying), one per user
    over all sources (distributed guessing; set it high, since it lets anyone slow a user down).
    """

    enabled: bool = True
    pair_burst: int = Field(default=5, ge=1)
    pair_per_minute: float = Field(default=5.0, gt=0)
    source_burst: int = Field(default=30, ge=1)
    source_per_minute: float = Field(default=30.0, gt=0)
    user_burst: int = Field(default=50, ge=1)
    user_per_minute: float = Field(default=20.0, gt=0)
    max_tracked: int = Field(default=100_000, ge=100)
    # Failed sign-ins go to the audit log (auth.failed); these bound what an attacker can add:
    # refusals by a full bucket are recorded once per bucket per `report_interval` (with a
    # count), and at most `audit_per_minute` events a minute in all (the rest are counted).
    report_interval: float = Field(default=60.0, gt=0, description="seconds")
    audit_per_minute: float = Field(default=600.0, gt=0)


class ExchangeListenConfig(_Model):
    """Where the credential exchange endpoint listens (HTTPS with the gateway's TLS cert)."""

    host: str = "127.0.0.1"
    port: int = Field(default=6480, ge=0, le=65535)


class AuthConfig(_Model):
    """Sign-in beyond the configured identities: OIDC people, agents with API keys or JWTs.

    ``store`` is the SQLite file (relative to the config) holding service identities, hashes of
    their API keys, and the revocation list of gateway credentials and tokens; without it there
    are no agents and no revocation. ``credential_ttl`` is how long a credential got by
    exchanging an OIDC token lasts (capped by ``tokens.max_ttl``). ``workload`` lists the
    workload identity providers whose JWTs service identities may sign in with.
    """

    oidc: OIDCConfig | None = None
    exchange: ExchangeListenConfig | None = None
    store: Path | None = None
    credential_ttl: float = Field(default=12 * 3600, gt=0, description="seconds")
    rate_limit: RateLimitConfig = RateLimitConfig()
    workload: tuple[WorkloadIdentityConfig, ...] = ()

    @model_validator(mode="after")
    def _workload_needs_store(self) -> AuthConfig:
        if self.workload and self.store is None:
            raise ValueError("auth.workload signs in service identities: it needs auth.store")
        issuers = [w.issuer for w in self.workload]
        dupes = sorted({i for i in issuers if issuers.count(i) > 1})
        if dupes:
            raise ValueError(f"auth.workload lists an issuer twice: {', '.join(dupes)}")
        return self

    @property
    def federated(self) -> bool:
        """Whether users absent from ``identities`` may sign in with a credential or API key."""
        return self.oidc is not None or self.store is not None


Durability = Literal["strict", "relaxed"]


class AuditConfig(_Model):
    """The audit log (`wardgate.audit`): where it is stored and how hard each write is.

    ``store`` is a SQLite file path (relative to the config file) or a ``postgresql://`` URL;
    ``store_password`` fills in the URL's password from a secret ref. ``durability: strict``
    stores a statement's intent before the statement runs (fail closed); ``relaxed`` buffers it,
    and every event written so says so. ``connection_durability`` sets it per connection.
    Batches of at most ``batch_max_size`` events share one commit; ``batch_max_wait`` (seconds)
    lets a batch wait for more events, at the cost of that much latency per statement;
    ``relaxed_linger`` (seconds) lets a batch that nobody waits for (relaxed events, outcomes)
    wait for more, which costs no statement anything.
    ``checkpoint_key`` (an Ed25519 private key: PEM, or the 32-byte seed in base64) signs a
    checkpoint of the chain head every ``checkpoint_interval`` seconds (0: only on shutdown and
    on request); prune needs it. ``capture_results`` keeps masked results, capped per statement
    and per session, for `wardgate audit replay`.
    """

    enabled: bool = True
    store: str = Field(default="wardgate-audit.db", min_length=1)
    store_password: SecretRef | None = None
    durability: Durability = "strict"
    connection_durability: dict[str, Durability] = Field(default_factory=dict)
    sqlite_synchronous: Literal["full", "normal"] = "full"
    batch_max_size: int = Field(default=512, ge=1, le=100_000)
    batch_max_wait: float = Field(default=0.0, ge=0, le=1.0)
    relaxed_linger: float = Field(default=0.02, ge=0, le=1.0)
    max_pending: int = Field(default=100_000, ge=1)
    checkpoint_key: SecretRef | None = None
    checkpoint_interval: float = Field(default=300.0, ge=0)
    capture_results: bool = False
    capture_max_bytes_per_statement: int = Field(default=64 * 1024, ge=0)
    capture_max_bytes_per_session: int = Field(default=1024 * 1024, ge=0)

    def durability_for(self, connection: str) -> Durability:
        return self.connection_durability.get(connection, self.durability)


class SlackConfig(_Model):
    """Slack: review messages to ``channel`` and Approve/Reject buttons handled by the API.

    ``users`` maps Slack user ids (``U0123...``) to gateway identities: a button press by
    anyone not listed is refused. ``api_url`` is for tests and Slack-compatible proxies.
    """

    bot_token: SecretRef
    signing_secret: SecretRef
    channel: Annotated[str, Field(min_length=1)]
    users: dict[str, str] = Field(default_factory=dict)
    api_url: str = "https://slack.com/api/"


class TeamsConfig(_Model):
    """Microsoft Teams: an Adaptive Card to an incoming webhook, linking to the review."""

    webhook_url: SecretRef


class WebhookConfig(_Model):
    """A generic receiver of review events, signed with HMAC-SHA256 under ``secret``."""

    url: Annotated[str, Field(min_length=8)]
    secret: SecretRef


class ApprovalsConfig(_Model):
    """Reviews of statements that policy holds for approval (see docs/approvals.md).

    ``store`` defaults to the audit store (same database, own tables): with a PostgreSQL store
    several gateways share reviews and wake each other with LISTEN/NOTIFY; SQLite is polled
    every ``poll_interval`` seconds. ``public_url`` is the API's address as reviewers reach it
    (links in chat messages). Notifier failures are logged and retried ``notify_retries``
    times; they never block a review.
    """

    store: str | None = None
    store_password: SecretRef | None = None
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    public_url: str | None = None
    slack: SlackConfig | None = None
    teams: TeamsConfig | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    notify_retries: int = Field(default=3, ge=0, le=20)
    notify_timeout: float = Field(default=10.0, gt=0)


class ApiConfig(_Model):
    """The REST API (reviews, grants) on HTTP(S): the gateway's TLS cert, loopback without."""

    host: str = "127.0.0.1"
    port: int = Field(default=6481, ge=0, le=65535)


class GatewayConfig(_Model):
    listen: ListenConfig = ListenConfig()
    tls: TLSConfig | None = None
    connections: tuple[ConnectionConfig, ...]
    identities: tuple[IdentityConfig, ...] = ()
    tokens: TokenConfig | None = None
    masking: MaskingConfig = MaskingConfig()
    # A policy directory turns on enforcement: every statement is decided, default deny.
    policy_dir: Path | None = None
    # Seconds between checks of the policy files for changes (0: reload only on SIGHUP).
    policy_reload_interval: float = Field(default=2.0, ge=0)
    startup_timeout: float = Field(default=15.0, gt=0)
    max_message_size: int = Field(default=256 * 1024 * 1024, ge=1024)
    max_client_connections: int = Field(default=1000, ge=1)
    audit: AuditConfig = AuditConfig()
    auth: AuthConfig = AuthConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    api: ApiConfig | None = None
    base_dir: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _tokens_configured(self) -> GatewayConfig:
        uses = [i.name for i in self.identities if i.auth == "token"]
        if uses and self.tokens is None:
            raise ValueError(f"identities {', '.join(uses)} use tokens but 'tokens' is not set")
        return self

    @model_validator(mode="after")
    def _auth_needs_tokens(self) -> GatewayConfig:
        if self.auth.federated and self.tokens is None:
            raise ValueError("'auth' signs gateway credentials: it needs the 'tokens' section")
        if self.auth.exchange is not None and self.auth.oidc is None:
            raise ValueError("auth.exchange exchanges OIDC tokens: it needs auth.oidc")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        for what, names in (
            ("connection", [c.name for c in self.connections]),
            ("identity", [i.name for i in self.identities]),
        ):
            dupes = {n for n in names if names.count(n) > 1}
            if dupes:
                raise ValueError(f"duplicate {what} names: {', '.join(sorted(dupes))}")
        return self

    @model_validator(mode="after")
    def _audit_connections_exist(self) -> GatewayConfig:
        names = {c.name for c in self.connections}
        unknown = sorted(set(self.audit.connection_durability) - names)
        if unknown:
            raise ValueError(f"audit.connection_durability names unknown connections: {unknown}")
        return self

    def connection(self, name: str) -> ConnectionConfig | None:
        return next((c for c in self.connections if c.name == name), None)

    def identity(self, name: str) -> IdentityConfig | None:
        return next((i for i in self.identities if i.name == name), None)


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a config file; relative paths in it are relative to the file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    base = path.resolve().parent
    try:
        config = GatewayConfig.model_validate({**raw, "base_dir": base})
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    policy_dir = config.policy_dir
    if policy_dir is not None and not policy_dir.is_absolute():
        policy_dir = base / policy_dir
    return config.model_copy(
        update={"tls": _rebase_tls(config.tls, base), "policy_dir": policy_dir}
    )


def _rebase_tls(tls: TLSConfig | None, base: Path) -> TLSConfig | None:
    if tls is None:
        return None
    return tls.model_copy(
        update={
            "cert": tls.cert if tls.cert.is_absolute() else base / tls.cert,
            "key": tls.key if tls.key.is_absolute() else base / tls.key,
        }
    )
