"""The dashboard in real headless Chromium (Debian's), against uvicorn on a free local port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from dashboard_helpers import CONVERGED, HOSTILE_MESSAGE, HOSTILE_NAME, RUNNING, expected, fill, stated

from alforge.dashboard import create_app, running_server
from alforge.db import Campaign, Database
from tests.support.demo_data import DemoShape, add_demo_campaign, add_demo_generation

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BETWEEN_GENERATIONS = "acetaldehyde-live"
SCREENSHOT = Path("/tmp/alforge-dashboard-campaign.png")
PLOTS = ("plot-learning-curve", "plot-labels", "plot-uncertainty", "plot-walkers", "plot-timings")


@pytest.fixture(scope="module")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The demo campaigns plus one running between generations (all its generations complete)."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'dashboard.db'}")
    fill(db)
    with db.session() as session:
        add_demo_campaign(session, BETWEEN_GENERATIONS, DemoShape(generations=2), state="running", seed=4)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def base_url(live_db: Database) -> Iterator[str]:
    with running_server(create_app(live_db.url)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; run `bash scripts/setup.sh test`")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Watched:
    """A page with its console errors, uncaught exceptions and dialogs (an XSS would open one)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = Watched(context.new_page())
    yield page
    context.close()
    assert page.errors == [], f"console errors: {page.errors}"
    assert page.dialogs == [], f"a page opened a dialog: {page.dialogs}"


def _plots_drawn(page: Any) -> None:
    page.wait_for_function(
        "ids => ids.every(id => { const d = document.getElementById(id); return d && d.data && d.data.length; })",
        arg=list(PLOTS),
        timeout=20_000,
    )


def _trace(page: Any, plot: str, name: str) -> dict[str, Any]:
    traces = page.evaluate(
        "id => document.getElementById(id).data.map(t => ({name: t.name, x: t.x, y: t.y, median: t.median,"
        " error: t.error_y ? {plus: t.error_y.array, minus: t.error_y.arrayminus} : null}))",
        plot,
    )
    found = [t for t in traces if t["name"] == name or t["name"].startswith(f"{name} (")]
    assert found, f"{plot} has no trace named {name!r}: {[t['name'] for t in traces]}"
    return found[0]  # type: ignore[no-any-return]


def test_campaign_list_shows_every_campaign_as_text(watched: Watched, base_url: str) -> None:
    page = watched.page
    page.goto(f"{base_url}/")
    page.wait_for_selector("#refreshed:has-text('Updated')")
    names = page.locator("#campaigns tbody tr td:first-child a").all_text_contents()
    assert names == [CONVERGED, RUNNING, HOSTILE_NAME, BETWEEN_GENERATIONS]
    assert HOSTILE_MESSAGE in page.locator("#campaigns tbody").inner_text()
    assert page.locator("#campaigns script, #campaigns img").count() == 0
    page.locator("#campaigns a", has_text=CONVERGED).click()
    page.wait_for_url(f"{base_url}/campaigns/{CONVERGED}")


def test_campaign_page_plots_the_database_numbers(watched: Watched, base_url: str, live_db: Database) -> None:
    page = watched.page
    page.goto(f"{base_url}/campaigns/{CONVERGED}")
    _plots_drawn(page)
    want = expected(live_db, CONVERGED)
    generations = want["generations"]
    indices = [g["index"] for g in generations]

    force = _trace(page, "plot-learning-curve", "stated force MAE (eV/Å)")
    assert force["x"] == [g["metrics"]["labels_total"] for g in generations]
    statements = [stated(g["metrics"]) for g in generations]
    assert force["y"] == pytest.approx([v for v, _ in statements])
    # error bars: the 90 % interval where the generation has one, none before
    assert force["error"]["plus"] == pytest.approx([0.0 if i is None else i[1] - v for v, i in statements])
    assert force["error"]["minus"] == pytest.approx([0.0 if i is None else v - i[0] for v, i in statements])
    assert any(i is None for _, i in statements)
    assert statements[-1][1] is not None
    held_out = _trace(page, "plot-learning-curve", "held-out force MAE (eV/Å)")
    assert held_out["y"] == pytest.approx([g["metrics"]["force_mae_eV_per_A"] for g in generations])
    value, (low, high) = statements[-1]
    assert page.locator("#c-force-mae").inner_text() == f"{value:.3g} ({low:.3g}–{high:.3g}) eV/Å"
    energy = _trace(page, "plot-learning-curve", "energy MAE (eV)")
    assert energy["y"] == pytest.approx([g["metrics"]["energy_mae_eV"] for g in generations])

    assert _trace(page, "plot-labels", "train labels")["y"] == [g["tally"]["ok_train"] for g in generations]
    assert _trace(page, "plot-labels", "quarantined")["y"] == [g["tally"]["quarantined"] for g in generations]

    box = _trace(page, "plot-uncertainty", "explored frames")
    assert box["x"] == indices
    assert box["median"] == pytest.approx([float(np.median(g["checks"])) for g in generations])
    threshold = _trace(page, "plot-uncertainty", "selection threshold")
    assert threshold["y"] == pytest.approx([g["threshold"] for g in generations])

    for reason in {r for g in generations for r in g["stops"]}:
        assert _trace(page, "plot-walkers", reason)["y"] == [g["stops"][reason] for g in generations]
    oracle = _trace(page, "plot-timings", "oracle")
    assert oracle["y"] == pytest.approx([g["timings"]["oracle_s"] for g in generations])

    rows = page.locator("#generations tbody tr")
    assert rows.count() == len(generations)
    links = page.locator("#generations a.flow-run")
    assert links.first.get_attribute("href") == (
        f"http://127.0.0.1:4200/runs/flow-run/{generations[-1]['flow_run_id']}"
    )
    assert page.locator("#structures tbody tr").count() == 20
    assert page.locator("#rejected tbody tr").count() == want["quarantined"]
    assert page.locator("#c-labels").inner_text() == f"{want['labels']} / {want['spec']['stopping']['max_labels']}"
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_running_campaign_page_shows_a_new_generation_without_reload(
    watched: Watched, base_url: str, live_db: Database
) -> None:
    page = watched.page
    page.goto(f"{base_url}/campaigns/{BETWEEN_GENERATIONS}")
    _plots_drawn(page)
    points = len(_trace(page, "plot-learning-curve", "stated force MAE (eV/Å)")["y"])
    assert points == 2
    with live_db.session() as session:
        campaign_id = session.query(Campaign.id).filter(Campaign.name == BETWEEN_GENERATIONS).scalar()
        add_demo_generation(session, campaign_id, 2, DemoShape(generations=2), seed=4)
    page.wait_for_function(
        "n => document.getElementById('plot-learning-curve').data[0].y.length === n", arg=points + 1, timeout=15_000
    )
    newest = expected(live_db, BETWEEN_GENERATIONS)["generations"][-1]
    force = _trace(page, "plot-learning-curve", "stated force MAE (eV/Å)")
    assert force["y"][-1] == pytest.approx(stated(newest["metrics"])[0])
    assert force["x"][-1] == newest["metrics"]["labels_total"]
    page.wait_for_function("() => document.querySelectorAll('#generations tbody tr').length === 3")
    assert page.locator("#c-generations").inner_text().startswith("3 /")


def test_hostile_campaign_page_renders_its_name_as_text(watched: Watched, base_url: str) -> None:
    page = watched.page
    page.goto(f"{base_url}/campaigns/{quote(HOSTILE_NAME, safe='')}")
    _plots_drawn(page)
    assert page.locator("#c-name").inner_text() == HOSTILE_NAME
    assert page.locator("#c-message").inner_text() == HOSTILE_MESSAGE
    assert page.title().startswith(HOSTILE_NAME)
