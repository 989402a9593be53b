"""HTML pages: the campaign list and one page per campaign.

Templates are rendered by Jinja2 with autoescaping on, so campaign names and messages are
always escaped; the pages' scripts (``static/``) fill plots and tables from the JSON API and
insert data with ``textContent`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from alforge import __version__
from alforge.dashboard import queries
from alforge.dashboard.api import DB
from alforge.dashboard.rows import campaign_path
from alforge.db import Database

__all__ = ["TEMPLATES_DIR", "router", "templates"]

TEMPLATES_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined)
)
router = APIRouter(include_in_schema=False)


def stated(value: float | None, interval: list[float] | None, unit: str = " eV/Å") -> str:
    """A stated force MAE with its 90 % interval, as ``static/common.js``'s ``fmtStated`` writes it.

    >>> stated(0.03124, [0.0251, 0.0412])
    '0.0312 (0.0251–0.0412) eV/Å'
    """
    if value is None:
        return "–"
    bounds = "" if not interval else f" ({interval[0]:.3g}–{interval[1]:.3g})"
    return f"{value:.3g}{bounds}{unit}"


templates.env.filters["stated"] = stated


def _context(db: Database, **extra: Any) -> dict[str, Any]:
    return {"version": __version__, "plotly_version": plotly.__version__, "database": db.safe_url, **extra}


@router.get("/", response_class=HTMLResponse)
def index(request: Request, db: DB) -> Response:
    """Every campaign with its state and progress (refreshed by ``static/index.js``)."""
    with db.session(readonly=True) as session:
        campaigns = queries.campaign_summaries(session)
    return templates.TemplateResponse(request, "index.html", _context(db, campaigns=campaigns))


@router.get("/campaigns/{name:path}", response_class=HTMLResponse)
def campaign_page(request: Request, name: str, db: DB) -> Response:
    """One campaign: header rendered here, plots and tables by ``static/campaign.js``."""
    with db.session(readonly=True) as session:
        found = queries.campaign_summaries(session, name)
    if not found:
        return templates.TemplateResponse(request, "not_found.html", _context(db, name=name), status_code=404)
    context = _context(db, campaign=found[0], api_url=f"/api/campaigns/{campaign_path(name)}")
    return templates.TemplateResponse(request, "campaign.html", context)
