"""The REST API: reviews and just-in-time grants (FastAPI, OpenAPI at ``/openapi.json``), served
by uvicorn on the gateway's event loop. See docs/api.md."""

from __future__ import annotations

from .app import VIAS, ApiError, api_from_config, create_app, visible
from .auth import (
    Authenticator,
    AuthError,
    Principal,
    authenticator_from_config,
    limiter_from_config,
)
from .grants import grant_visible
from .server import ApiServer, start_api

__all__ = [
    "VIAS",
    "ApiError",
    "ApiServer",
    "AuthError",
    "Authenticator",
    "Principal",
    "api_from_config",
    "authenticator_from_config",
    "create_app",
    "grant_visible",
    "limiter_from_config",
    "start_api",
    "visible",
]
