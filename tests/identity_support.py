"""A real OIDC provider on loopback (oidc-provider-mock: Flask + Authlib) and gateway configs.

The provider signs real RS256 ID tokens and publishes its JWKS; one extra route lets a test
rotate its signing key the way a real provider does (new key, old one gone from the JWKS).
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import werkzeug.serving

from conftest import Upstream, gateway_config

with warnings.catch_warnings():
    # The provider imports Authlib's deprecated jose module; not our warning to fix.
    warnings.simplefilter("ignore")
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")  # authlib.deprecate just put "always" first for its own
    import flask
    import oidc_provider_mock
    from authlib import jose

SIGNING_KEY = "k" * 32
KEY_ENV = "WARDGATE_TEST_IDENTITY_KEY"
SECRET_ENV = "WARDGATE_TEST_OIDC_CLIENT_SECRET"
CLIENT_ID = "wardgate-cli"
USERS = {
    "alice": {"email": "alice@example.com", "email_verified": True, "groups": ["db-admins", "eng"]},
    "bob": {"email": "bob@example.com", "email_verified": True, "groups": ["contractors"]},
}


@dataclass
class Provider:
    issuer: str
    server: werkzeug.serving.BaseWSGIServer

    def rotate_key(self) -> None:
        httpx.post(f"{self.issuer}/test/rotate-key").raise_for_status()


@contextmanager
def running_provider() -> Iterator[Provider]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = oidc_provider_mock.app(
            user_claims=[oidc_provider_mock.User(sub=s, claims=c) for s, c in USERS.items()]
        )

    @app.post("/test/rotate-key")
    def rotate() -> tuple[str, int]:
        storage = flask.g.oidc_provider_mock_storage
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage.jwk = jose.RSAKey.generate_key(is_private=True)
        return "", 204

    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_port}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def browser_as(sub: str) -> Any:
    """A person at the provider's consent page: picks ``sub``, then follows the redirect home."""

    def open_url(url: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            answer = httpx.post(url, data={"sub": sub})
        assert answer.status_code == 302, answer.text[:300]
        httpx.get(answer.headers["location"])  # the loopback listener of `wardgate login`

    return open_url


def identity_config(
    upstream: Upstream, tmp: Path, provider: Provider | None = None, **auth: Any
) -> dict[str, Any]:
    os.environ[KEY_ENV] = SIGNING_KEY
    os.environ[SECRET_ENV] = "public-client-secret"
    raw = gateway_config(upstream)
    raw["tokens"] = {"signing_key": f"env:{KEY_ENV}", "max_ttl": 12 * 3600}
    section: dict[str, Any] = {"store": str(tmp / "identities.db"), **auth}
    if provider is not None:
        section.setdefault(
            "oidc",
            {
                "issuer": provider.issuer,
                "client_id": CLIENT_ID,
                "client_secret": f"env:{SECRET_ENV}",
                "group_map": {"db-admins": ["dba"]},
                "jwks_min_refresh_interval": 0,
            },
        )
        section.setdefault("exchange", {"host": "127.0.0.1", "port": 0})
    raw["auth"] = section
    return raw


class SourceRelay:
    """A TCP relay whose outgoing side is bound to another loopback address (127.0.0.2), so the
    gateway sees a second source address: libpq cannot pick its source address itself."""

    def __init__(self, target_port: int, source: str = "127.0.0.2") -> None:
        self.target_port = target_port
        self.source = source
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(
                ("127.0.0.1", self.target_port), source_address=(self.source, 0)
            )
            for a, b in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=_pump, args=(a, b), daemon=True)
                t.start()
                self._threads.append(t)

    def close(self) -> None:
        self._closed = True
        self.listener.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
