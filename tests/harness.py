"""Test harness: a real gateway on its own event loop thread, in front of a real PostgreSQL.

Running the gateway on a separate thread (with uvloop, as in production) lets synchronous clients
(psycopg, psql subprocesses) and asyncio clients on pytest's loop use it alike.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wardgate.config import GatewayConfig
from wardgate.pgwire._scram import make_verifier
from wardgate.proxy import Gateway

USERS = {"tester": "tester-pw", "other": "other-pw"}


def identities() -> list[dict[str, Any]]:
    return [
        {"name": name, "scram_verifier": make_verifier(pw, iterations=4096).to_text()}
        for name, pw in USERS.items()
    ]


class RunningGateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.loop = uvloop.new_event_loop()
        self.gateway = Gateway(config)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.call(self.gateway.start())

    def call(self, coro: Any, timeout: float = 30) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    @property
    def port(self) -> int:
        return self.gateway.port

    def dsn(self, user: str = "tester", database: str = "shop", **extra: str) -> str:
        parts = {
            "host": "127.0.0.1",
            "port": str(self.port),
            "dbname": database,
            "user": user,
            "password": USERS.get(user, "nope"),
            "sslmode": "disable",
            **extra,
        }
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def stop(self) -> None:
        try:
            self.call(self.gateway.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


@contextmanager
def running_gateway(raw: dict[str, Any]) -> Iterator[RunningGateway]:
    gw = RunningGateway(GatewayConfig.model_validate(raw))
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def self_signed_cert(common_name: str) -> tuple[bytes, bytes]:
    """A self-signed CA certificate for localhost and 127.0.0.1, and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
