"""Run the benchmark scripts and rewrite ``benchmarks/RESULTS.md`` with their tables and verdicts.

Every ``benchmarks/*.py`` except helpers (``_*.py``) and this file is a benchmark; the known ones run
in a fixed order, any others after them. Each runs in its own process (``--quick`` is passed to
those that accept it); its output streams to the terminal, and the Markdown copies of its tables
(the ``<!-- markdown: … -->`` blocks that ``_table.print_table`` prints, with machine, date and
command) go into RESULTS.md together with pass (exit 0) or the targets it missed. A script that
prints no such block contributes the tail of its output instead.

RESULTS.md keeps one section per benchmark between ``<!-- benchmark: NAME -->`` markers, so
``--only`` / ``--skip`` rerun some benchmarks and keep the others' last results.

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...] [--skip NAME ...] [--timeout S]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _table import machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
ORDER = (
    "db_ingest", "oracle_throughput", "model_vs_sgdml", "dashboard", "campaign", "active_vs_random",
    "scaling", "local_gp", "faults",
)
SECTION = re.compile(r"<!-- benchmark: (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /benchmark: (?P=name) -->\n", re.S)
TAIL_LINES = 40


def discover() -> list[str]:
    """Benchmark names in run order: the known ones first, then any others alphabetically."""
    found = {p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "run_all"}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def accepts_quick(name: str) -> bool:
    return '"--quick"' in (HERE / f"{name}.py").read_text()


def run(name: str, quick: bool, timeout_s: float | None) -> dict[str, object]:
    """Run one benchmark, teeing its output; return its exit code, output and wall time."""
    command = [sys.executable, str(HERE / f"{name}.py")]
    if quick and accepts_quick(name):
        command.append("--quick")
    shown = " ".join(["python", f"benchmarks/{name}.py", *command[2:]])
    print(f"\n=== {shown}", flush=True)
    began = time.perf_counter()
    load = os.getloadavg()[0]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    expired = threading.Event()

    def expire() -> None:  # a silent benchmark is killed on time too, not only at its next line
        expired.set()
        process.kill()

    timer = threading.Timer(timeout_s, expire) if timeout_s is not None else None
    if timer is not None:
        timer.start()
    try:
        if process.stdout is None:
            msg = "no output pipe"
            raise RuntimeError(msg)
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        code = process.wait()
    except KeyboardInterrupt:
        process.kill()
        raise
    finally:
        if timer is not None:
            timer.cancel()
    timed_out = expired.is_set()
    return {
        "name": name, "command": shown, "code": code, "timed_out": timed_out, "output": "".join(lines),
        "wall_s": time.perf_counter() - began, "load": load,
    }


def markdown_blocks(output: str) -> list[str]:
    """The Markdown tables a script printed (title comment, table, footer line)."""
    blocks = []
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"<!-- markdown: (.*) -->", lines[i])
        if not match:
            i += 1
            continue
        block = [f"**{match.group(1)}**", ""]
        i += 1
        while i < len(lines) and lines[i].startswith("|"):
            block.append(lines[i])
            i += 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i < len(lines) and " UTC · `" in lines[i]:
            block += ["", f"<sub>{lines[i].strip()}</sub>"]
            i += 1
        blocks.append("\n".join(block))
    return blocks


def verdict(result: dict[str, object]) -> tuple[str, list[str]]:
    output = str(result["output"])
    missed = [line.removeprefix("TARGET MISSED: ") for line in output.splitlines() if line.startswith("TARGET MISSED:")]
    if result["timed_out"]:
        return "timed out", missed
    if result["code"] == 0:
        return "pass", missed
    if missed:
        return "targets missed", missed
    return f"error (exit {result['code']})", missed


def section(result: dict[str, object]) -> str:
    status, missed = verdict(result)
    lines = [
        f"## {result['name']}",
        "",
        f"`{result['command']}` — **{status}** — {float(result['wall_s']):.0f} s wall "
        f"(1-min load average at start {float(result['load']):.1f})",
        "",
    ]
    lines += [f"- target missed: {m}" for m in missed]
    if missed:
        lines.append("")
    blocks = markdown_blocks(str(result["output"]))
    if blocks:
        lines += ["\n\n".join(blocks), ""]
    tail = [line for line in str(result["output"]).splitlines() if line.strip()][-TAIL_LINES:]
    if not blocks or status.startswith(("error", "timed out")):
        lines += ["Last lines of output:", "", "```", *tail, "```", ""]
    return "\n".join(lines)


def write_results(results: list[dict[str, object]], argv: list[str]) -> None:
    """Rewrite RESULTS.md: fresh sections for ``results``, previous sections kept for the rest."""
    old = RESULTS.read_text() if RESULTS.exists() else ""
    previous = {m.group("name"): m.group("body") for m in SECTION.finditer(old)}
    fresh = {str(r["name"]): section(r) for r in results}
    names = [n for n in discover() if n in fresh or n in previous] + sorted(set(previous) - set(discover()))
    summary_rows = []
    total_s = 0.0
    for name in names:
        body = fresh.get(name, previous.get(name, ""))
        status = re.search(r"— \*\*(.+?)\*\* — (\d+) s wall", body)
        when = "this run" if name in fresh else "kept from an earlier run"
        result, wall = (status.group(1), status.group(2)) if status else ("?", "?")
        total_s += float(wall) if status else 0.0
        summary_rows.append(f"| [{name}](#{name}) | {result} | {wall} | {when} |")
    now = datetime.now(UTC)
    text = [
        "# Benchmark results",
        "",
        f"Generated by `python benchmarks/run_all.py {' '.join(argv)}`".rstrip() + f" on {machine()}, "
        f"{now:%Y-%m-%d %H:%M} UTC. Each section names the command that produced it; rerun one with "
        "`python benchmarks/run_all.py --only NAME`.",
        "",
        "| benchmark | result | wall [s] | measured |",
        "|---|---|---|---|",
        *summary_rows,
        "",
        f"Benchmarks run this time: {len(results)}, {sum(float(r['wall_s']) for r in results) / 60:.1f} min wall. "
        f"Sum of the wall times in the table (the latest run of each benchmark): {total_s / 60:.1f} min.",
        "",
    ]
    for name in names:
        body = fresh.get(name, previous.get(name, ""))
        text += [f"<!-- benchmark: {name} -->", body.rstrip("\n"), f"<!-- /benchmark: {name} -->", ""]
    RESULTS.write_text("\n".join(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to the benchmarks that take it")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--skip", nargs="+", metavar="NAME", default=[], help="do not run these benchmarks")
    parser.add_argument("--timeout", type=float, default=None, help="kill a benchmark after this many seconds")
    args = parser.parse_args()
    available = discover()
    unknown = [n for n in [*(args.only or []), *args.skip] if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    names = [n for n in (args.only or available) if n not in args.skip]
    results = []
    for name in names:  # RESULTS.md is rewritten after each benchmark, so an interrupted run keeps what it measured
        results.append(run(name, args.quick, args.timeout))
        write_results(results, sys.argv[1:])
    if results:
        print(f"\nwrote {RESULTS}")
    print()
    for r in results:
        status, missed = verdict(r)
        print(f"{r['name']:<20} {status:<16} {float(r['wall_s']):7.0f} s  {'; '.join(missed)}")
    sys.exit(0 if all(verdict(r)[0] == "pass" for r in results) else 1)


if __name__ == "__main__":
    main()
