"""The dashboard's JSON API under ``/api``: every view's data, and starting campaigns.

Read endpoints are open; ``POST /api/campaigns`` needs the bearer token (see :mod:`.auth`).

=========================================  ==================================================
``GET /api/campaigns``                     every campaign: state, progress, labels, latest error
``GET /api/campaigns/{name}``              one campaign and a row per generation (Prefect links)
``GET .../{name}/learning-curve``          held-out force/energy MAE vs labels, per generation
``GET .../{name}/labels``                  labelled / quarantined / failed per generation, reasons
``GET .../{name}/uncertainty``             explored-frame uncertainty per generation, threshold
``GET .../{name}/walkers``                 MD walker stop reasons per generation
``GET .../{name}/timings``                 oracle / training / MD / orchestration time
``GET .../{name}/structures``              newest labelled structures
``POST /api/campaigns``                    start a run of the JSON campaign spec in the body
=========================================  ==================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from alforge import __version__
from alforge.config import CampaignSpec
from alforge.dashboard import launcher, queries, series
from alforge.dashboard.auth import require_token
from alforge.dashboard.rows import CampaignNotFoundError, campaign_path
from alforge.db import Database
from alforge.errors import AlforgeError, SpecError

__all__ = ["get_db", "router"]

MAX_SPEC_BYTES = 1_000_000

router = APIRouter(prefix="/api", tags=["api"])


def get_db(request: Request) -> Database:
    """The app's :class:`~alforge.db.Database` (FastAPI dependency)."""
    return request.app.state.db  # type: ignore[no-any-return]


DB = Annotated[Database, Depends(get_db)]


def _read(db: Database, query: Callable[..., Any], *args: Any) -> JSONResponse:
    """Run ``query(session, *args)`` in a read-only transaction; 404 for an unknown campaign."""
    try:
        with db.session(readonly=True) as session:
            data = query(session, *args)
    except CampaignNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return JSONResponse(data)


@router.get("/health")
def health(db: DB) -> JSONResponse:
    """Liveness: the version and the (password-free) database URL."""
    return JSONResponse({"status": "ok", "version": __version__, "database": db.safe_url})


@router.get("/campaigns")
def list_campaigns(db: DB) -> JSONResponse:
    """Every campaign with its state and progress, oldest first."""

    def query(session: Session) -> dict[str, Any]:
        return {"database": db.safe_url, "campaigns": queries.campaign_summaries(session)}

    return _read(db, query)


@router.post(
    "/campaigns",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(require_token)],
    responses={401: {"description": "no or wrong token"}, 403: {"description": "writes disabled"},
               422: {"description": "invalid spec"}},
)
async def create_campaign(request: Request) -> JSONResponse:
    """Start (or resume) the campaign whose spec is the JSON body; 202 with how it was started."""
    body = await request.body()
    if len(body) > MAX_SPEC_BYTES:
        detail = f"spec of {len(body)} bytes is over the {MAX_SPEC_BYTES}-byte limit; send the spec alone"
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = f"request body is not valid JSON ({exc}); send a campaign spec as a JSON object"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    if not isinstance(data, dict):
        detail = f"spec must be a JSON object (got {type(data).__name__}); send e.g. {{\"name\": ..., \"system\": ...}}"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
    try:
        spec = CampaignSpec.from_dict(data)
    except SpecError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    db: Database = get_db(request)
    try:
        run = await run_in_threadpool(launcher.start_run, spec, database_url=db.url)
    except AlforgeError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    location = f"/api/campaigns/{campaign_path(spec.name)}"
    return JSONResponse(
        {"name": spec.name, "run": run}, status_code=status.HTTP_202_ACCEPTED, headers={"Location": location}
    )


# Routes with a suffix come before the bare ``{name:path}`` route, which would match them too.


@router.get("/campaigns/{name:path}/learning-curve")
def learning_curve(name: str, db: DB) -> JSONResponse:
    """Held-out force and energy MAE against the number of labels, per generation."""
    return _read(db, series.learning_curve, name)


@router.get("/campaigns/{name:path}/labels")
def labels(name: str, db: DB, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSONResponse:
    """Labels, quarantined and failed calculations per generation, with the rejected ones' reasons."""
    return _read(db, series.labels, name, limit)


@router.get("/campaigns/{name:path}/uncertainty")
def uncertainty(name: str, db: DB) -> JSONResponse:
    """Explored-frame uncertainty distribution per generation and the selection threshold."""
    return _read(db, series.uncertainty, name)


@router.get("/campaigns/{name:path}/walkers")
def walkers(name: str, db: DB) -> JSONResponse:
    """Why MD walkers stopped, per generation."""
    return _read(db, series.walkers, name)


@router.get("/campaigns/{name:path}/timings")
def timings(name: str, db: DB) -> JSONResponse:
    """Time per generation split into oracle, training, MD and orchestration."""
    return _read(db, series.timings, name)


@router.get("/campaigns/{name:path}/structures")
def structures(name: str, db: DB, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> JSONResponse:
    """The newest labelled structures of the campaign."""

    def query(session: Session) -> dict[str, Any]:
        return {"structures": series.latest_structures(session, name, limit)}

    return _read(db, query)


@router.get("/campaigns/{name:path}")
def campaign(name: str, db: DB) -> JSONResponse:
    """One campaign: summary, spec and a row per generation with its Prefect flow-run link."""
    return _read(db, queries.campaign_detail, name)
