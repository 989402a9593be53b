"""The ``alforge`` command line (Typer).

Every deliberate error (:class:`alforge.errors.AlforgeError`) is printed as one line on stderr
with a non-zero exit status; commands this version does not provide yet say so and exit 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from alforge.errors import AlforgeError, NotAvailableError

app = typer.Typer(
    name="alforge",
    help="Active learning of interatomic potentials: GP/committee models, PySCF references, Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The campaign database: migrate, check.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn alforge errors into one line on stderr and an exit status (2: not available, 1: error)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NotAvailableError as exc:
            err_console.print(f"[yellow]not yet available:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except AlforgeError as exc:
            err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@friendly
def run(
    spec: Annotated[Path, typer.Argument(help="Campaign spec (TOML).", exists=False)],
    progress: Annotated[bool, typer.Option(help="Show live progress bars.")] = True,
) -> None:
    """Run (or resume) the campaign described by SPEC."""
    from alforge.api import run_spec_file

    run_spec_file(spec, console=console if progress else None)


@app.command()
@friendly
def status(
    name: Annotated[str | None, typer.Argument(help="Campaign name (all campaigns if omitted).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Campaigns and their generations, labels, errors and state."""
    from alforge.reports import campaign_status

    report = campaign_status(name)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    from alforge.reports import render_status

    render_status(report, console)


@app.command()
@friendly
def fit(
    data: Annotated[Path, typer.Argument(help="Labelled extxyz (energy in info, forces in arrays).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the model file.")],
    kind: Annotated[
        str | None, typer.Option(help="Model kind: gp, committee or local (default gp, or --model's).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="TOML file with a \\[model] section, as in a campaign spec.")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE model option, e.g. pair_cutoff_A=8.5 or n_members=8 (repeatable)."),
    ] = None,
    energy_key: Annotated[str, typer.Option(help="info key (or calculator result) of the energy in eV.")] = "energy",
    forces_key: Annotated[str, typer.Option(help="arrays key (or calculator result) of forces in eV/Å.")] = "forces",
    max_structures: Annotated[
        int | None, typer.Option(help="Use at most this many structures (evenly spaced).", min=1)
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = "float64",
    seed: Annotated[int, typer.Option(help="Seed of subsets, resampling and factorisations.")] = 0,
) -> None:
    """Train a potential on any labelled extxyz file."""
    from alforge.model_cli import fit_file, model_spec_of

    spec = model_spec_of(kind, model, settings or [])
    fit_file(
        data, output, spec=spec, max_structures=max_structures, device=device, dtype=dtype, seed=seed,
        energy_key=energy_key, forces_key=forces_key, console=console,
    )


@app.command()
@friendly
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model file written by `alforge fit` or a campaign.")],
    data: Annotated[Path, typer.Argument(help="Labelled extxyz to score the model on.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Score a potential: energy and force errors, uncertainty calibration, prediction time."""
    from alforge.model_cli import evaluate_file

    evaluate_file(model, data, as_json=as_json, console=console)


@app.command()
@friendly
def label(
    input_path: Annotated[Path, typer.Argument(metavar="IN.extxyz", help="Structures to label.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Labelled extxyz to write.")],
    method: Annotated[str, typer.Option(help="HF or a DFT functional (PBE, B3LYP, ...).")] = "HF",
    basis: Annotated[str, typer.Option(help="Basis set, e.g. sto-3g, def2-svp.")] = "sto-3g",
    charge: Annotated[int, typer.Option(help="Total charge (e).")] = 0,
    spin: Annotated[int, typer.Option(help="Unpaired electrons, 2S.")] = 0,
    workers: Annotated[int, typer.Option(help="Parallel oracle processes.", min=1)] = 1,
    wall_time_s: Annotated[float, typer.Option(help="Wall-time limit per calculation (s).")] = 600.0,
    failures: Annotated[
        Path | None, typer.Option(help="Where failed structures go (default OUT.failed.extxyz).")
    ] = None,
) -> None:
    """Run the PySCF oracle on structures; failures go to a separate file with reasons."""
    from alforge.oracle_cli import label_command

    label_command(
        input_path, output, method=method, basis=basis, charge=charge, spin=spin, workers=workers,
        wall_time_s=wall_time_s, failures=failures, console=console,
    )


@app.command()
@friendly
def export(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="extxyz file to write.")],
    split: Annotated[str, typer.Option(help="train, validation or all.")] = "train",
) -> None:
    """Write the labelled set of a campaign to extxyz."""
    from alforge.db import Database
    from alforge.db.exchange import export_campaign

    if split not in ("train", "validation", "all"):
        msg = f"--split {split!r}: use train, validation or all"
        raise typer.BadParameter(msg)
    count = export_campaign(Database(), name, output, split=None if split == "all" else split)
    console.print(f"wrote {count} labelled structures of campaign {name!r} to {output}")


@db_app.command("upgrade")
@friendly
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: newest).")] = "head",
) -> None:
    """Migrate the campaign database to the newest schema."""
    from alforge.db import Database

    database = Database(check=False)
    before, after = database.upgrade(revision)
    console.print(f"database {database.safe_url}: schema {before or 'empty'} → {after}")


@db_app.command("check")
@friendly
def db_check() -> None:
    """Check the database's integrity (every calculation has its structure, ...); exit 1 on problems."""
    from alforge.db import Database
    from alforge.db.integrity import check_integrity

    database = Database()
    with database.session(readonly=True) as session:
        report = check_integrity(session)
    counts = ", ".join(f"{n} {name}" for name, n in report["counts"].items())
    if report["ok"]:
        console.print(f"database {database.safe_url}: consistent ({counts})")
        return
    for problem in report["problems"]:
        err_console.print(f"[red]problem:[/] {problem}", highlight=False)
    err_console.print(f"database {database.safe_url}: {len(report['problems'])} problems ({counts})")
    raise typer.Exit(1)


@app.command()
@friendly
def server(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 4200,
) -> None:
    """Start a local Prefect server (SQLite by default; PostgreSQL via PREFECT_API_DATABASE_CONNECTION_URL)."""
    import os

    from alforge.settings import redact_url

    env = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **os.environ}
    database = env.get("PREFECT_API_DATABASE_CONNECTION_URL", "")
    scheme, _, rest = database.partition("://")
    if scheme in {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}:
        database = env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"postgresql+asyncpg://{rest}"  # Prefect's driver
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    where = redact_url(database) if database else "SQLite in PREFECT_HOME"
    console.print(f"Prefect server on http://{host}:{port}, database {where}; point clients at it with")
    console.print(f"  export PREFECT_API_URL=http://{shown}:{port}/api")
    sys.stdout.flush()
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    try:  # the server replaces this process, so SIGTERM/SIGINT reach it directly (docker stop, Ctrl-C)
        os.execve(sys.executable, command, env)
    except OSError as exc:
        msg = f"cannot start `{' '.join(command[1:])}` ({exc.strerror}); check the Python at {sys.executable}"
        raise AlforgeError(msg) from None


@app.command()
@friendly
def serve(
    spec: Annotated[list[Path] | None, typer.Argument(help="Specs whose campaigns to serve.")] = None,
    cron: Annotated[str | None, typer.Option(help="Cron schedule for every spec given (else each spec's own).")] = None,
    limit: Annotated[int | None, typer.Option(help="Most flow runs at once.", min=1)] = None,
    pool: Annotated[
        str | None,
        typer.Option(help="Register the deployments on this work pool (`prefect worker start`) instead of serving."),
    ] = None,
) -> None:
    """Register the `campaign` deployments (generic + scheduled per spec) and serve them."""
    from alforge.api import _quiet_prefect
    from alforge.config import load_spec

    specs = [load_spec(path) for path in spec or []]
    _quiet_prefect()
    from alforge.flows.deploy import check_cron, deploy_campaigns, serve_campaigns

    if cron is not None:
        check_cron(cron, "--cron")
    if pool is not None:
        for name in deploy_campaigns(specs, cron=cron, work_pool=pool):
            console.print(f"registered {name} on work pool {pool}")
        return
    serve_campaigns(specs, cron=cron, limit=limit)


@app.command()
@friendly
def dashboard(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
) -> None:
    """The web dashboard and its JSON API under /api (read-only unless ALFORGE_DASHBOARD_TOKEN is set)."""
    from alforge.dashboard import serve as serve_dashboard

    serve_dashboard(host=host, port=port)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
