"""The JSON API returns what the database holds; pages escape user-supplied text."""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pytest
from dashboard_helpers import CONVERGED, HOSTILE_MESSAGE, HOSTILE_NAME, RUNNING, expected, stated
from fastapi.testclient import TestClient
from sqlalchemy import select

from alforge.dashboard.app import PLOTLY_JS
from alforge.db import Calculation, Database, Structure


def test_campaign_list_has_each_campaigns_state_and_counts(client: TestClient, demo_db: Database) -> None:
    body = client.get("/api/campaigns").json()
    assert [c["name"] for c in body["campaigns"]] == [CONVERGED, RUNNING, HOSTILE_NAME]
    for summary in body["campaigns"]:
        want = expected(demo_db, summary["name"])
        assert summary["state"] == want["state"]
        assert summary["labels"] == want["labels"]
        assert summary["quarantined"] == want["quarantined"]
        assert summary["pending"] == want["pending"]
        assert summary["generations"] == len(want["generations"])
        assert summary["complete_generations"] == sum(g["state"] == "complete" for g in want["generations"])
        assert summary["max_labels"] == want["spec"]["stopping"]["max_labels"]
        last_complete = [g for g in want["generations"] if g["state"] == "complete"][-1]
        assert summary["force_mae_eV_per_A"] == pytest.approx(last_complete["metrics"]["force_mae_eV_per_A"])
        value, interval = stated(last_complete["metrics"])
        assert summary["stated_force_mae_eV_per_A"] == pytest.approx(value)
        assert summary["stated_interval_eV_per_A"] == (None if interval is None else pytest.approx(interval))
        assert 0.0 <= summary["progress"] <= 1.0
    converged = body["campaigns"][0]
    assert converged["progress"] == 1.0
    assert converged["url"] == f"/campaigns/{CONVERGED}"
    assert body["campaigns"][2]["url"] == "/campaigns/" + quote(HOSTILE_NAME, safe="")


def test_campaign_detail_has_a_row_per_generation_with_its_prefect_link(
    client: TestClient, demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.internal:4200/api")
    body = client.get(f"/api/campaigns/{RUNNING}").json()
    want = expected(demo_db, RUNNING)
    assert body["name"] == RUNNING
    assert body["prefect_ui_url"] == "http://prefect.internal:4200"
    rows = body["generation_rows"]
    assert [r["index"] for r in rows] == [g["index"] for g in want["generations"]]
    for row, generation in zip(rows, want["generations"], strict=True):
        tally = generation["tally"]
        assert row["state"] == generation["state"]
        assert (row["labels"], row["train_labels"], row["validation_labels"]) == (
            tally["ok"], tally["ok_train"], tally["ok_validation"]
        )
        assert (row["quarantined"], row["pending"]) == (tally["quarantined"], tally["pending"])
        assert row["flow_run_url"] == f"http://prefect.internal:4200/runs/flow-run/{generation['flow_run_id']}"
        assert row["threshold_eV_per_A"] == pytest.approx(generation["threshold"])
        value, interval = stated(generation["metrics"])
        assert row["stated_force_mae_eV_per_A"] == (None if value is None else pytest.approx(value))
        assert row["stated_interval_eV_per_A"] == (None if interval is None else pytest.approx(interval))
    assert rows[-1]["state"] == "running"
    assert rows[-1]["force_mae_eV_per_A"] is None


def test_learning_curve_is_the_stored_held_out_errors(client: TestClient, demo_db: Database) -> None:
    curve = client.get(f"/api/campaigns/{CONVERGED}/learning-curve").json()
    complete = [g for g in expected(demo_db, CONVERGED)["generations"] if g["state"] == "complete"]
    assert curve["generation"] == [g["index"] for g in complete]
    assert curve["labels"] == [g["metrics"]["labels_total"] for g in complete]
    assert curve["force_mae_eV_per_A"] == pytest.approx([g["metrics"]["force_mae_eV_per_A"] for g in complete])
    assert curve["energy_mae_eV"] == pytest.approx([g["metrics"]["energy_mae_eV"] for g in complete])
    # the number each verdict states, with its interval where the generation has one (from generation 2)
    statements = [stated(g["metrics"]) for g in complete]
    assert curve["stated_force_mae_eV_per_A"] == pytest.approx([v for v, _ in statements])
    assert curve["stated_force_mae_eV_per_A"] != pytest.approx(curve["force_mae_eV_per_A"])
    assert curve["stated_low_eV_per_A"] == [None if i is None else pytest.approx(i[0]) for _, i in statements]
    assert curve["stated_high_eV_per_A"] == [None if i is None else pytest.approx(i[1]) for _, i in statements]
    assert None in curve["stated_low_eV_per_A"]
    assert curve["stated_low_eV_per_A"][-1] is not None
    running = [g["state"] for g in expected(demo_db, RUNNING)["generations"]]
    assert len(client.get(f"/api/campaigns/{RUNNING}/learning-curve").json()["generation"]) == running.count(
        "complete"
    )


def test_labels_per_generation_and_quarantine_reasons(client: TestClient, demo_db: Database) -> None:
    body = client.get(f"/api/campaigns/{CONVERGED}/labels").json()
    generations = expected(demo_db, CONVERGED)["generations"]
    assert body["train"] == [g["tally"]["ok_train"] for g in generations]
    assert body["validation"] == [g["tally"]["ok_validation"] for g in generations]
    assert body["quarantined"] == [g["tally"]["quarantined"] for g in generations]
    with demo_db.session(readonly=True) as session:
        quarantined = session.scalars(select(Calculation).where(Calculation.status == "quarantined"))
        stored = {c.id: c.error for c in quarantined}
    assert len(body["rejected"]) == sum(body["quarantined"])
    for row in body["rejected"]:
        assert row["status"] == "quarantined"
        assert row["error"] == stored[row["calculation_id"]]
    assert sum(reason["count"] for reason in body["reasons"]) == sum(body["quarantined"])
    assert len(client.get(f"/api/campaigns/{CONVERGED}/labels?limit=3").json()["rejected"]) == 3


def test_uncertainty_summarises_every_walker_check_with_the_threshold(client: TestClient, demo_db: Database) -> None:
    body = client.get(f"/api/campaigns/{CONVERGED}/uncertainty").json()
    generations = expected(demo_db, CONVERGED)["generations"]
    assert body["generation"] == [g["index"] for g in generations]
    for i, generation in enumerate(generations):
        checks = generation["checks"]
        assert body["n"][i] == checks.size
        assert body["median"][i] == pytest.approx(np.median(checks))
        assert body["max"][i] == pytest.approx(checks.max())
        assert body["q1"][i] == pytest.approx(np.percentile(checks, 25))
        assert body["above_threshold"][i] == pytest.approx(np.mean(checks > generation["threshold"]))
    assert body["threshold"]["eV_per_A"] == pytest.approx([g["threshold"] for g in generations])


def test_walker_stop_reasons_are_counted_per_generation(client: TestClient, demo_db: Database) -> None:
    body = client.get(f"/api/campaigns/{CONVERGED}/walkers").json()
    for i, generation in enumerate(expected(demo_db, CONVERGED)["generations"]):
        counts = {reason: series[i] for reason, series in body["reasons"].items() if series[i]}
        assert counts == dict(generation["stops"])
        assert body["walkers"][i] == sum(generation["stops"].values())
    simulated = [g["simulated_ps"] for g in expected(demo_db, CONVERGED)["generations"] if g["stops"]]
    assert all(ps > 0 for ps in simulated)
    assert body["simulated_ps"] == pytest.approx(simulated)
    assert body["simulated_ps_total"] == pytest.approx(np.cumsum(simulated))


def test_timings_split_each_generation(client: TestClient, demo_db: Database) -> None:
    body = client.get(f"/api/campaigns/{RUNNING}/timings").json()
    complete = [g for g in expected(demo_db, RUNNING)["generations"] if g["timings"]]
    assert body["generation"] == [g["index"] for g in complete]
    for key in ("oracle_s", "training_s", "md_s", "orchestration_s", "total_s"):
        assert body[key] == pytest.approx([g["timings"][key] for g in complete])
        assert body["totals"][key] == pytest.approx(sum(g["timings"][key] for g in complete))


def test_latest_structures_are_the_newest_labels(client: TestClient, demo_db: Database) -> None:
    rows = client.get(f"/api/campaigns/{RUNNING}/structures?limit=5").json()["structures"]
    assert len(rows) == 5
    with demo_db.session(readonly=True) as session:
        for row in rows:
            calculation = session.get(Calculation, row["calculation_id"])
            assert calculation is not None
            assert calculation.status == "ok"
            assert row["energy_eV"] == pytest.approx(calculation.energy_eV)
            assert row["formula"] == session.get(Structure, row["structure_id"]).formula  # type: ignore[union-attr]
    finished = [row["finished_at"] for row in rows]
    assert finished == sorted(finished, reverse=True)
    assert rows[0]["generation"] == 2


@pytest.mark.parametrize(
    "path", ["/api/campaigns/nope", "/api/campaigns/nope/labels", "/api/campaigns/nope/learning-curve"]
)
def test_unknown_campaign_is_404_with_a_hint(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["detail"] == "no campaign named 'nope'; GET /api/campaigns lists the campaigns"


def test_pages_escape_campaign_names_and_messages(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert HOSTILE_NAME not in index.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index.text
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt; oracle &amp; model disagree" in index.text
    page = client.get("/campaigns/" + quote(HOSTILE_NAME, safe=""))
    assert page.status_code == 200
    assert HOSTILE_NAME not in page.text
    assert HOSTILE_MESSAGE not in page.text
    assert 'data-name="&lt;script&gt;alert(1)&lt;/script&gt;"' in page.text
    missing = client.get("/campaigns/" + quote("<b>gone</b>", safe=""))
    assert missing.status_code == 404
    assert "&lt;b&gt;gone&lt;/b&gt;" in missing.text


def test_pages_load_scripts_only_from_this_server(client: TestClient) -> None:
    page = client.get(f"/campaigns/{CONVERGED}")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http" not in "".join(line for line in page.text.splitlines() if "<script" in line)
    plotly_js = client.get("/vendor/plotly.min.js")
    assert plotly_js.status_code == 200
    assert plotly_js.content == PLOTLY_JS.read_bytes()
    for asset in ("campaign.js", "common.js", "index.js", "dashboard.css", "favicon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/campaigns", "/api/campaigns/{name}/learning-curve", "/api/campaigns/{name}"} <= set(paths)
    assert "post" in paths["/api/campaigns"]
