"""Dashboard response times on a large campaign database (target: every page and API endpoint ≤ 300 ms median).

Builds a temporary SQLite database of 20 campaigns × 20 generations × 200 labels (synthetic rows
from ``tests.support.demo_data``), serves the dashboard with uvicorn on a free local port,
and times each page and JSON endpoint over HTTP (requests rotate through the campaigns).

Usage: python benchmarks/dashboard.py [--campaigns 20] [--generations 20] [--labels 200] [--requests 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repository root, for tests.support
from _table import finish, print_table

from alforge.dashboard import create_app, running_server
from tests.support.demo_data import DemoShape, build_demo_database

TARGET_MEDIAN_MS = 300.0
ENDPOINTS = (
    ("page: campaign list", "/"),
    ("page: campaign", "/campaigns/{name}"),
    ("GET /api/campaigns", "/api/campaigns"),
    ("GET /api/campaigns/{name}", "/api/campaigns/{name}"),
    ("GET .../learning-curve", "/api/campaigns/{name}/learning-curve"),
    ("GET .../labels", "/api/campaigns/{name}/labels?limit=50"),
    ("GET .../uncertainty", "/api/campaigns/{name}/uncertainty"),
    ("GET .../walkers", "/api/campaigns/{name}/walkers"),
    ("GET .../timings", "/api/campaigns/{name}/timings"),
    ("GET .../structures", "/api/campaigns/{name}/structures?limit=20"),
)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def time_endpoint(client: httpx.Client, path: str, names: list[str], requests: int) -> tuple[list[float], int]:
    """Milliseconds of ``requests`` GETs of ``path`` (campaign names rotating), and the last body size."""
    for name in names[:2]:
        client.get(path.format(name=name)).raise_for_status()
    times_ms, size = [], 0
    for i in range(requests):
        url = path.format(name=names[i % len(names)])
        start = time.perf_counter()
        response = client.get(url)
        times_ms.append(1000 * (time.perf_counter() - start))
        response.raise_for_status()
        size = len(response.content)
    return times_ms, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--labels", type=int, default=200, help="labels per generation")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per endpoint")
    args = parser.parse_args()
    shape = DemoShape(
        generations=args.generations, labels_per_generation=args.labels, validation_per_generation=args.labels // 10,
        quarantined_per_generation=4, unselected_per_generation=50, walkers=8, checks_per_walker=200,
    )
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboard-bench.db"
        start = time.perf_counter()
        db = build_demo_database(f"sqlite:///{path}", args.campaigns, shape, prefix="bench")
        build_s = time.perf_counter() - start
        db.dispose()
        labels = args.campaigns * args.generations * args.labels
        print(
            f"database: {args.campaigns} campaigns × {args.generations} generations × {args.labels} labels "
            f"= {labels:,} labels, {path.stat().st_size / 1e6:.0f} MB, built in {build_s:.1f} s"
        )
        names = [f"bench-{i:03d}" for i in range(args.campaigns)]
        with running_server(create_app(f"sqlite:///{path}")) as url, httpx.Client(base_url=url, timeout=60) as client:
            cycle_ms = [0.0] * args.requests
            for label, endpoint in ENDPOINTS:
                times_ms, size = time_endpoint(client, endpoint, names, args.requests)
                median = statistics.median(times_ms)
                if endpoint.startswith("/api/campaigns/{name}"):
                    cycle_ms = [a + b for a, b in zip(cycle_ms, times_ms, strict=True)]
                ok = median <= TARGET_MEDIAN_MS
                rows.append((label, f"{median:.1f}", f"{percentile(times_ms, 95):.1f}", f"{size / 1000:.1f}",
                             f"≤ {TARGET_MEDIAN_MS:.0f}", "yes" if ok else "NO"))
                if not ok:
                    failures.append(f"{label}: median {median:.0f} ms > {TARGET_MEDIAN_MS:.0f} ms")
            rows.append(("(one campaign-page refresh: 7 API calls in a row)", f"{statistics.median(cycle_ms):.1f}",
                         f"{percentile(cycle_ms, 95):.1f}", "", "", ""))
    title = f"dashboard response times, {args.requests} requests each over HTTP (uvicorn, SQLite)"
    print_table(title, ["page / endpoint", "median ms", "p95 ms", "body kB", "target ms", "met"], rows)
    finish(failures)


if __name__ == "__main__":
    main()
