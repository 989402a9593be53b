"""Prefect global concurrency limits that protect shared machines from too many oracle jobs.

Two limits, created (or updated) when a campaign flow starts and taken by every label task:

- ``alforge-oracle-<campaign>``: at most ``compute.oracle_workers`` oracle jobs of this campaign,
  with the Dask runner (the thread runner's pool already has exactly that many threads);
- ``alforge-oracle``: at most ``compute.max_oracle_jobs`` across every campaign on the server
  (only when set).

Slots are taken with a short lease (:data:`LEASE_S`, renewed while a calculation runs), so the
slots of a process that was killed are free again within that time instead of Prefect's
default five minutes, and a resumed campaign does not stall.

Training tasks carry the tag ``alforge-training``; on a GPU machine, ``prefect concurrency-limit
create alforge-training 1`` keeps one training per GPU.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client

from alforge.config import CampaignSpec

__all__ = ["GLOBAL_ORACLE_LIMIT", "LEASE_S", "TRAINING_TAG", "ensure_oracle_limits"]

GLOBAL_ORACLE_LIMIT = "alforge-oracle"
TRAINING_TAG = "alforge-training"
LEASE_S = 60.0  # the shortest lease Prefect accepts


def ensure_oracle_limits(spec: CampaignSpec) -> list[str]:
    """Create or update the campaign's oracle limits on the Prefect server; return their names."""
    wanted: dict[str, int] = {}
    if spec.compute.task_runner == "dask":
        wanted[f"{GLOBAL_ORACLE_LIMIT}-{spec.name}"] = spec.compute.oracle_workers
    if spec.compute.max_oracle_jobs is not None:
        wanted[GLOBAL_ORACLE_LIMIT] = spec.compute.max_oracle_jobs
    if not wanted:
        return []
    with get_client(sync_client=True) as client:
        for name, limit in wanted.items():
            client.upsert_global_concurrency_limit_by_name(name, limit)
    return list(wanted)


