"""Dask execution for the fan-out of oracle calculations and MD walkers (prefect-dask).

``compute.task_runner = "dask"`` picks, in order: ``dask_address`` (an existing scheduler),
``dask_cluster`` (a cluster class such as ``dask_jobqueue.SLURMCluster`` with
``dask_cluster_kwargs``), or a local cluster of ``dask_workers`` single-threaded processes.

Workers write their results to the campaign database themselves, in short transactions (each
task opens the database named by ``ALFORGE_DATABASE_URL`` in its environment) and return only
ids and statuses to the flow. Writing from the worker means a result is safe the moment its
calculation ends, even if the flow process dies before it collects the future; the unique
(structure, level) row and the calculation lease make those writes idempotent.
"""

from __future__ import annotations

from typing import Any

from prefect_dask import DaskTaskRunner

from alforge.config import ComputeSpec

__all__ = ["dask_task_runner"]


def dask_task_runner(compute: ComputeSpec) -> DaskTaskRunner:
    """The Dask task runner a compute spec asks for."""
    if compute.dask_address:
        return DaskTaskRunner(address=compute.dask_address)
    if compute.dask_cluster:
        return DaskTaskRunner(cluster_class=compute.dask_cluster, cluster_kwargs=dict(compute.dask_cluster_kwargs))
    kwargs: dict[str, Any] = {
        "n_workers": compute.dask_workers,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        **compute.dask_cluster_kwargs,
    }
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=kwargs)
