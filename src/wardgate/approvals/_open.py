"""From gateway config to a running approvals service (the gateway, the API and the CLI)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from wardgate.audit import StoreError
from wardgate.audit._store import normalize_url
from wardgate.config import ConfigError, GatewayConfig

from ._service import Approvals
from ._store import ReviewStore

__all__ = ["open_approvals", "review_store_url"]


def review_store_url(config: GatewayConfig) -> str:
    """The async URL of the review store: ``approvals.store``, else the audit store."""
    own = config.approvals.store is not None
    store = config.approvals.store if own else config.audit.store
    assert store is not None
    secret = config.approvals.store_password if own else config.audit.store_password
    base: Path | None = config.base_dir
    try:
        url = normalize_url(store, base)
    except StoreError as exc:
        raise ConfigError(f"approvals store: {exc}") from None
    if secret is not None:
        url = make_url(url).set(password=secret.resolve(base)).render_as_string(False)
    return url


async def open_approvals(config: GatewayConfig) -> Approvals:
    url = review_store_url(config)
    try:
        store = await ReviewStore.open(url)
    except Exception as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"cannot open the review store {shown}: {exc}") from None
    approvals = Approvals(store, poll_interval=config.approvals.poll_interval)
    await approvals.start()
    return approvals
