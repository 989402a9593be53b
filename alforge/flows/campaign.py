"""The campaign flow: generations of train → plan → explore → select → label → evaluate → decide.

Each generation is a subflow run; tasks pass database ids, never arrays. A failed task (after its
retries) never stops the loop: a walker that crashed is simply missing from the generation, a
label task that failed leaves its calculation ``failed``, retried first when the campaign runs
again. When every label task of a generation fails, the campaign stops and says why
(:class:`alforge.campaign.decide.LabelTally`): more generations would repeat the MD and get no label.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import TerminationSignal
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from alforge import campaign as steps
from alforge.config import CampaignSpec
from alforge.flows import tasks
from alforge.flows.limits import ensure_oracle_limits


def _results(futures: list[PrefectFuture[Any]]) -> list[Any]:
    """Wait for every future; a failed one gives its exception instead of raising."""
    return [future.result(raise_on_failure=False) for future in futures]


def _task_runner(spec: CampaignSpec) -> Any:
    compute = spec.compute
    if compute.task_runner == "dask":
        from alforge.flows.dask import dask_task_runner

        return dask_task_runner(compute)
    return ThreadPoolTaskRunner(max_workers=max(compute.oracle_workers, 1))


@flow(name="generation", flow_run_name="{name}-generation-{index}", log_prints=False)
def generation(
    campaign_id: int, generation_id: int, index: int, name: str, limits: list[str] | None = None
) -> dict[str, Any]:
    """One learning iteration: train → plan → explore → select → label → evaluate → decide."""
    db = tasks.database()
    ctx = steps.load_context(db, campaign_id)
    steps.record_flow_run(db, generation_id, str(flow_run.id) if flow_run.id else None)
    began = time.perf_counter()
    training_s, model_id = 0.0, None
    if index == 0:
        tasks.seed(campaign_id, generation_id, index)
    else:
        model_id = tasks.train(campaign_id, generation_id, index)
        training_s = time.perf_counter() - began
        if model_id is not None:
            tasks.plan(campaign_id, generation_id, model_id, index)
            walkers = [
                tasks.explore.submit(campaign_id, generation_id, model_id, w, index)
                for w in range(ctx.spec.exploration.walkers)
            ]
            for error in (r for r in _results(walkers) if isinstance(r, BaseException)):
                get_run_logger().warning("walker failed: %s", error)
    calculation_ids = tasks.select(campaign_id, generation_id, model_id, index)
    _label(db, campaign_id, calculation_ids, limits)
    metrics = tasks.evaluate(campaign_id, generation_id, model_id, index)
    state, reason = steps.decide_step(db, campaign_id, metrics, index)
    timings = steps.finish_generation(
        db, campaign_id, generation_id, metrics, state, reason,
        training_s=training_s, total_s=time.perf_counter() - began,
    )
    _publish(name, index, metrics, timings, reason, steps.generation_plan(db, generation_id))
    return {"state": state, "reason": reason, "metrics": metrics, "timings": timings}


def _label(db: Any, campaign_id: int, calculation_ids: list[int], limits: list[str] | None) -> None:
    """Label tasks for ``calculation_ids``, in parallel; one that fails after its retries is marked ``failed``."""
    labels = [tasks.label.submit(campaign_id, cid, limits) for cid in calculation_ids]
    for cid, outcome in zip(calculation_ids, _results(labels), strict=True):
        if isinstance(outcome, BaseException):
            steps.mark_failed(db, cid, f"label task failed: {outcome}")


def _publish(
    name: str, index: int, metrics: dict[str, Any], timings: dict[str, float], reason: str, plan: steps.Plan | None
) -> None:
    def fmt(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    interval = metrics.get("estimated_force_mae_interval_eV_per_A")
    rows = [
        ("labels (campaign total)", metrics.get("labels_total")),
        ("labels ok / quarantined this generation",
         f"{metrics.get('generation_ok', 0)} / {metrics.get('generation_quarantined', 0)}"),
        ("held-out force MAE (eV/Å)", metrics.get("force_mae_eV_per_A")),
        ("force MAE estimated over all MD checks (eV/Å)", metrics.get("estimated_force_mae_eV_per_A")),
        ("90 % interval of that estimate (eV/Å)",
         "-" if not interval else f"{fmt(interval[0])} – {fmt(interval[1])}"),
        ("held-out energy MAE (eV)", metrics.get("energy_mae_eV")),
        ("held-out frames (last generations)", metrics.get("held_out_frames")),
        ("confident share of budgeted MD steps", metrics.get("confident_fraction")),
        ("completed share of budgeted MD steps", metrics.get("md_completed_fraction")),
        ("simulated time this generation (ps)", metrics.get("simulated_ps")),
        ("simulated time per walker, campaign (ps)", metrics.get("walker_ps")),
        ("simulated time, campaign total (ps)", metrics.get("simulated_ps_total")),
        ("threshold / trust ceiling (eV/Å)",
         "-" if plan is None else f"{fmt(plan.threshold_eV_per_A)} / {fmt(plan.upper_eV_per_A)}"),
        ("threshold from", "-" if plan is None else plan.threshold_source),
        ("rewinds beyond the trust window", metrics.get("rewinds")),
        ("walker stops", metrics.get("walker_stops")),
        *[(f"time: {k}", v) for k, v in timings.items()],
        ("decision", reason),
    ]
    table = "\n".join(f"| {k} | {fmt(v)} |" for k, v in rows)
    key = "".join(ch if ch.isalnum() else "-" for ch in f"{name}-generation-{index}".lower())
    create_markdown_artifact(
        key=key, markdown=f"### {name}: generation {index}\n\n| quantity | value |\n|---|---|\n{table}\n",
        description=f"alforge generation {index} of {name}",
    )


def _campaign_run_name() -> str:
    params = flow_run.parameters
    return f"campaign-{params.get('name') or (params.get('spec') or {}).get('name', 'unnamed')}"


@flow(name="campaign", flow_run_name=_campaign_run_name, log_prints=False)
def campaign(spec: dict[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    """Run or resume a campaign until it converges or stops.

    Parameters
    ----------
    spec
        A campaign spec as a JSON dict (creates or resumes the campaign it names).
    name
        Instead of a spec: continue the stored campaign of this name (scheduled runs).
    """
    db = tasks.database()
    if spec is not None:
        campaign_spec = CampaignSpec.from_dict(spec)
        campaign_id = steps.start_campaign(db, campaign_spec)
    elif name is not None:
        campaign_id = steps.resume_campaign(db, name)
        campaign_spec = steps.load_context(db, campaign_id).spec
    else:
        msg = "give a campaign spec or the name of a stored campaign"
        raise ValueError(msg)
    limits = ensure_oracle_limits(campaign_spec)
    retry = steps.failed_calculations(db, campaign_id)
    if retry:  # labels whose task failed in an earlier run: before deciding, so that the verdict sees them
        get_run_logger().info("retrying %d failed label(s)", len(retry))
        _label(db, campaign_id, retry, limits)
    done = steps.finished_state(db, campaign_id)
    if done is not None:  # nothing left to do under this spec: say so, run nothing
        steps.set_state(db, campaign_id, *done)
        return {"campaign_id": campaign_id, "name": campaign_spec.name, "state": done[0], "reason": done[1],
                "already_finished": True}
    steps.set_state(db, campaign_id, "running", None)
    runner = _task_runner(campaign_spec)
    outcome: dict[str, Any] = {"state": "running"}
    try:
        while outcome["state"] == "running":
            generation_id, index = steps.open_generation(db, campaign_id)
            outcome = generation.with_options(task_runner=runner)(
                campaign_id, generation_id, index, campaign_spec.name, limits
            )
    except BaseException as exc:
        state = "stopped" if isinstance(exc, KeyboardInterrupt | TerminationSignal) else "failed"
        steps.set_state(db, campaign_id, state, f"{type(exc).__name__}: {exc}"[:500])
        raise
    return {"campaign_id": campaign_id, "name": campaign_spec.name, **outcome}


def run_in_process(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the campaign flow in this process (what ``alforge run`` and ``Campaign.run`` do).

    On Prefect's ephemeral API (no ``PREFECT_API_URL``) flow-run heartbeats are turned off:
    nothing outlives this process to watch them, and each flow run would otherwise wait up to
    a second for its heartbeat thread on exit (measured: 2.1 s vs 0.25 s for an empty flow with
    one subflow).
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if PREFECT_API_URL.value():
        return campaign(spec=spec)
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return campaign(spec=spec)
