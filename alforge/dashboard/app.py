"""The dashboard application: FastAPI app factory, static files and security headers.

Example
-------
>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app("sqlite:///:memory:"))
>>> client.get("/api/campaigns").json()["campaigns"]
[]
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import plotly
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alforge import __version__
from alforge.dashboard import api, pages
from alforge.db import Database
from alforge.errors import DatabaseError

__all__ = ["PLOTLY_JS", "STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` to every HTTP response (scripts only from this server)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(db_url: str | None = None) -> FastAPI:
    """The dashboard: HTML pages, the JSON API under ``/api`` and its static files.

    Parameters
    ----------
    db_url
        SQLAlchemy URL of the campaign database; default ``ALFORGE_DATABASE_URL`` or the SQLite
        file under ``ALFORGE_HOME``. Connects (and checks the schema) now.
    """
    if not PLOTLY_JS.is_file():
        msg = f"plotly.min.js not found at {PLOTLY_JS}; reinstall plotly (`pip install --force-reinstall plotly`)"
        raise FileNotFoundError(msg)
    db = Database(db_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = FastAPI(
        title="alforge dashboard",
        version=__version__,
        description="Active-learning campaigns: state, learning curves, labels, uncertainty, timings.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.db = db

    @app.exception_handler(OperationalError)
    @app.exception_handler(DatabaseError)
    async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        reason = str(exc) if isinstance(exc, DatabaseError) else f"cannot query {db.safe_url}"
        detail = f"{reason}; check that the database is reachable (ALFORGE_DATABASE_URL) and retry"
        return JSONResponse({"detail": detail}, status_code=503)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        """plotly.js as shipped inside the installed plotly package (no CDN)."""
        return FileResponse(
            PLOTLY_JS, media_type="text/javascript", headers={"cache-control": "public, max-age=86400"}
        )

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware)
    return app
