"""The web dashboard (FastAPI) and its JSON API under ``/api``.

``alforge dashboard [--host H] [--port P]`` calls :func:`serve`; :func:`create_app` builds the
ASGI app for tests or another server.

Example
-------
>>> from fastapi.testclient import TestClient
>>> from alforge.dashboard import create_app
>>> client = TestClient(create_app("sqlite:///:memory:"))
>>> client.get("/api/campaigns").json()["campaigns"]
[]
>>> serve(port=8765)  # doctest: +SKIP
"""

from alforge.dashboard.app import create_app
from alforge.dashboard.server import running_server, serve

__all__ = ["create_app", "running_server", "serve"]
