"""Bearer-token check for the dashboard's write endpoints.

Reads are open (the dashboard binds 127.0.0.1 by default). Writes need
``Authorization: Bearer <ALFORGE_DASHBOARD_TOKEN>``; with no token configured they are refused
outright. The token is compared in constant time and never echoed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Header, HTTPException, status

from alforge.settings import get_settings

__all__ = ["require_token"]

WRITES_DISABLED = "writes disabled: set ALFORGE_DASHBOARD_TOKEN"
BAD_TOKEN = "missing or wrong bearer token; send the header `Authorization: Bearer <ALFORGE_DASHBOARD_TOKEN>`"


def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
    """FastAPI dependency: pass with the configured bearer token, else 403 (none set) or 401."""
    configured = get_settings().dashboard_token
    expected = configured.get_secret_value() if configured is not None else ""
    if not expected:
        raise HTTPException(status.HTTP_403_FORBIDDEN, WRITES_DISABLED)
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, BAD_TOKEN, headers={"WWW-Authenticate": "Bearer"})
