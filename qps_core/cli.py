"""The `qps` command line. Heavy modules (boto3, quilt3) load only in the commands that need them."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import cli_serve
from .errors import PermanentError, QPSError, describe_exception, one_line
from .report import emit as _emit
from .report import table as _table

app = typer.Typer(
    name="qps",
    help="QPS, the Quilt Packaging Service: turn events into versioned Quilt packages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML or YAML); default $QPS_CONFIG.")]
PathsArg = Annotated[list[Path], typer.Argument(help="Event files or folders of *.json event files.")]


def _settings(config: Path | None, endpoint_url: str | None = None, *, stored: bool = True) -> Any:
    """Effective settings: environment > stored (admin page / API) > config file > defaults."""
    from .settings import load_settings

    settings = load_settings(config)
    if stored:
        from .settings.effective import load_effective

        settings = load_effective(config).settings
    if endpoint_url:
        settings = settings.model_copy(update={"endpoint_url": endpoint_url})
    if settings.endpoint_url:
        from .demo.endpoint import credentials_for

        credentials_for(settings.endpoint_url)
    return settings


@app.command()
def plan(paths: PathsArg, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Show the package requests that events imply, without touching AWS."""
    from .event_files import read_events
    from .runner import Runner

    runner = Runner(_settings(config, stored=_local_store()))
    broken = runner.adapters.errors()  # already logged as one-line warnings; they make the plan fail
    rejected = 0
    rows: list[list[str]] = []
    for label, event in read_events(paths, max_events=runner.settings.max_events_per_input):
        result = runner.plan_event(event)
        rejected += result.status == "rejected"
        if json_out:
            _emit({"input": label, **result.as_dict()})
            continue
        detail = result.reason or result.error or ""
        if result.also_claimed_by:
            detail = (detail + "; " if detail else "") + "also claimed by " + ", ".join(result.also_claimed_by)
        targets = [_target(r) for r in result.requests] or ["-"]
        for n, target in enumerate(targets):
            rows.append(
                [
                    label if n == 0 else "",
                    result.status if n == 0 else "",
                    (result.adapter or "-") if n == 0 else "",
                    target,
                    detail if n == 0 else "",
                ]
            )
    if not json_out:
        typer.echo(_table(rows, ["INPUT", "STATUS", "ADAPTER", "PACKAGE", "DETAIL"]))
    raise typer.Exit(1 if rejected or broken else 0)


@app.command()
def adapters(
    json_out: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the effective settings.")] = False,
    config: ConfigOpt = None,
) -> None:
    """List installed adapters: id, distribution, version, enabled, description."""
    from .plugins import load_adapters

    settings = _settings(config)
    found = load_adapters(settings, load_disabled=True)
    order = found.order
    infos = sorted(found.infos.values(), key=lambda i: (order.index(i.id) if i.id in order else len(order), i.id))
    if json_out:
        for info in infos:
            _emit(info.as_dict())
    else:
        rows = [
            [
                i.id,
                i.distribution,
                i.version,
                "yes" if i.enabled else "no",
                i.priority,
                f"ERROR: {i.error}" if i.error else i.description,
            ]
            for i in infos
        ]
        typer.echo(_table(rows, ["ID", "DISTRIBUTION", "VERSION", "ENABLED", "PRIORITY", "DESCRIPTION"]))
    if verbose:
        typer.echo("")
        _print_settings(settings, json_out)


def _print_settings(settings: Any, json_out: bool) -> None:
    values = settings.model_dump(mode="json")
    if json_out:
        _emit(values)
        return
    for name, value in values.items():
        env = f"QPS_{name.upper()}"
        shown = ",".join(value) if isinstance(value, list) else "" if value is None else str(value)
        typer.echo(f"{name:<22} {shown:<50} ({env})")


def _settings_without_store(config: Path | None, endpoint_url: str | None = None) -> Any:
    """`qps serve`: the API context lays the stored values over these (and follows their changes)."""
    return _settings(config, endpoint_url, stored=False)


def _local_store() -> bool:
    """`qps plan` touches no AWS: it applies stored settings only from the local store."""
    return not os.environ.get("QPS_SETTINGS_TABLE")


@app.command("settings")
def settings_cmd(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Show the effective settings and where each comes from (environment, stored, config file, default)."""
    from .settings.effective import load_effective

    effective = load_effective(config)
    rows = effective.describe()
    if json_out:
        _emit({"version": effective.stored.version, "settings": {r.pop("name"): r for r in rows}})
        return
    for row in rows:
        value = row["value"]
        if isinstance(value, dict) and any(isinstance(v, dict | list) for v in value.values()):
            shown = json.dumps(value, ensure_ascii=False)  # nested (source_filters): JSON, as it is typed
        elif isinstance(value, dict):
            shown = ",".join(f"{k}={'on' if v is True else 'off' if v is False else v}" for k, v in value.items())
        elif isinstance(value, list):
            shown = ",".join(value)
        else:
            shown = "" if value is None else str(value)
        typer.echo(f"{row['name']:<26} {shown:<40} {row['origin']:<18} ({row['env']})")


def _target(request: Any) -> str:
    """A planned request in `qps plan`'s table, with its normalised filters when it has any."""
    from .globs import describe

    filters = describe(request.include, request.exclude)
    return f"s3://{request.registry} {request.package_name} <- {request.source_prefix}" + (
        f" ({filters})" if filters else ""
    )


EndpointOpt = Annotated[
    str | None, typer.Option("--endpoint-url", help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL, else AWS).")
]


@app.command()
def replay(
    paths: PathsArg,
    json_out: JsonOpt = False,
    endpoint_url: EndpointOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and validate only; write nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Run event files end to end: adapters, then the packager, writing real packages to S3."""
    from .event_files import read_events
    from .report import replay_events
    from .runner import Runner

    settings = _settings(config, endpoint_url)
    events = list(read_events(paths, max_events=settings.max_events_per_input))
    bad = replay_events(Runner(settings), events, json_out, dry_run)
    raise typer.Exit(1 if bad else 0)


reconcile_app = typer.Typer(
    help="Package what events missed: every COMPLETED HealthOmics run, or every RO-Crate under a prefix. "
    "Existing packages come back unchanged; nothing is written for them.",
    no_args_is_help=True,
)
app.add_typer(reconcile_app, name="reconcile")
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Plan and validate only; write nothing.")]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", min=1, help="Stop after this many items (whole pages); prints the cursor.")
]
CursorOpt = Annotated[str | None, typer.Option("--cursor", help="Go on from a cursor an earlier --limit printed.")]


@reconcile_app.command("omics")
def reconcile_omics(
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs that stopped within this time: 7d, 12h, 30m, 2w.")
    ] = None,
    json_out: JsonOpt = False,
    dry_run: DryRunOpt = False,
    endpoint_url: EndpointOpt = None,
    omics_endpoint_url: Annotated[
        str | None,
        typer.Option("--omics-endpoint-url", help="HealthOmics endpoint (default: $AWS_ENDPOINT_URL_OMICS, else AWS)."),
    ] = None,
    limit: LimitOpt = None,
    cursor: CursorOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List HealthOmics runs (every page) and package each COMPLETED one (in the --since window)."""
    import os

    from .reconcile import parse_duration, sweep_omics

    window = parse_duration(since) if since else None
    if omics_endpoint_url:
        os.environ["AWS_ENDPOINT_URL_OMICS"] = omics_endpoint_url  # GetRun, when packaging, too
    settings = _settings(config, endpoint_url)
    _reconcile(settings, lambda at: sweep_omics(since=window, cursor=at, limit=limit), cursor, limit, json_out, dry_run)


@reconcile_app.command("rocrate")
def reconcile_rocrate(
    prefix: Annotated[str, typer.Argument(help="s3://bucket/prefix/ to search for RO-Crate sentinels.")],
    json_out: JsonOpt = False,
    dry_run: DryRunOpt = False,
    endpoint_url: EndpointOpt = None,
    limit: LimitOpt = None,
    cursor: CursorOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Find every sentinel (ro-crate-metadata.json) under the prefix and package its folder."""
    from . import aws
    from .reconcile import sweep_rocrate

    settings = _settings(config, endpoint_url)
    s3 = aws.client("s3", settings.endpoint_url)

    def batch(at: str | None) -> Any:
        return sweep_rocrate(prefix, settings.sentinel_names, cursor=at, limit=limit, client=s3)

    _reconcile(settings, batch, cursor, limit, json_out, dry_run)


def _reconcile(settings: Any, batch: Any, cursor: str | None, limit: int | None, json_out: bool, dry_run: bool) -> None:
    """Follow the sweep's cursors (to the end, or one batch with --limit) and run what it finds like
    `qps replay` does: the same lines, the same exit codes."""
    from .envelopes import unwrap
    from .report import replay_events
    from .runner import Runner

    runner = Runner(settings)
    bad = 0
    while True:
        sweep = batch(cursor)  # a listing failure is one line from main(), exit 2
        labelled = [(label, event) for label, value in sweep.found for event in unwrap(value)]
        bad += replay_events(runner, labelled, json_out, dry_run) if labelled else 0
        cursor = sweep.cursor
        if cursor is None or limit is not None:
            break
    if cursor is not None:
        typer.echo(f"more to reconcile: run again with --cursor {cursor}", err=True)
    raise typer.Exit(1 if bad else 0)


@app.command()
def show(
    registry: Annotated[str, typer.Argument(help="s3://bucket of the registry.")],
    name: Annotated[str, typer.Argument(help="Package name, prefix/suffix.")],
    top_hash: Annotated[str | None, typer.Option("--top-hash", help="A revision (default: latest).")] = None,
    endpoint_url: EndpointOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List a package revision's entries and metadata."""
    info = describe_package(registry, name, top_hash=top_hash, endpoint_url=endpoint_url)
    if json_out:
        _emit(info)
        return
    typer.echo(f"{info['registry']} {info['package_name']}@{info['top_hash']}")
    typer.echo(f"message: {info['message']}")
    typer.echo("metadata: " + json.dumps(info["metadata"], indent=2, ensure_ascii=False))
    rows = [[e["logical_key"], str(e["size"]), e["hash"][:12], e["physical_key"]] for e in info["entries"]]
    typer.echo(_table(rows, ["LOGICAL KEY", "SIZE", "HASH", "PHYSICAL KEY"]))


def describe_package(
    registry: str, name: str, *, top_hash: str | None = None, endpoint_url: str | None = None
) -> dict[str, Any]:
    """`qps show`: a revision (default: latest) as plain data: top hash, message, metadata, entries."""
    from .demo.endpoint import credentials_for
    from .models import normalise_registry
    from .packaging import read_revision
    from .s3paths import check_package_name

    bucket = normalise_registry(registry)
    check_package_name(name, "package name")
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    credentials_for(os.environ.get("AWS_ENDPOINT_URL"))
    info = read_revision(bucket, name, top_hash)
    if info is None:
        raise PermanentError(f"cannot read package {name} from s3://{bucket}: no such package or revision")
    keys = ("package_name", "top_hash", "message", "metadata", "entries")
    return {"registry": f"s3://{bucket}", **{key: info[key] for key in keys}}


@app.command()
def demo(
    keep: Annotated[bool, typer.Option("--keep", help="Leave the local endpoint running afterwards.")] = False,
    endpoint_url: EndpointOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Package realistic demo data through the real runner, on a local S3 endpoint (no AWS account needed)."""
    from .demo.walkthrough import run_demo

    raise typer.Exit(run_demo(keep=keep, endpoint_url=endpoint_url, json_out=json_out))


@app.command()
def worker(
    queue_url: Annotated[str, typer.Option("--queue-url", help="The SQS queue to drain (QuiltPackager).")],
    endpoint_url: EndpointOpt = None,
    wait_seconds: Annotated[int, typer.Option(help="Long-poll wait.", min=0, max=20)] = 20,
    batch_size: Annotated[int, typer.Option(help="Messages per receive.", min=1, max=10)] = 10,
    visibility_timeout: Annotated[
        int, typer.Option(help="Seconds a message stays hidden; extended while busy.", min=10)
    ] = 300,
    max_polls: Annotated[int | None, typer.Option(help="Stop after this many receives (default: run forever).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Drain an SQS queue as a long-running process, with the Lambda handler's semantics."""
    from . import logs, metrics
    from .runtime.compose import queue_processor
    from .runtime.worker import Worker

    _settings(config, endpoint_url)  # checks the settings early; credentials for a local endpoint
    logs.configure(replace=True)  # JSON lines unless on a terminal (docs/design.md §13)
    overrides: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}
    w = Worker(
        queue_processor(local=True, config_file=config, **overrides),
        queue_url,
        wait_seconds=wait_seconds,
        batch_size=batch_size,
        visibility_timeout=visibility_timeout,
    )
    w.install_signal_handlers()
    with metrics.sending_to(metrics.EmfSink()):
        handled = w.run(max_polls=max_polls)
    typer.echo(f"qps worker: stopped after {handled} message(s)", err=True)


cli_serve.register(app, _settings_without_store)  # `qps serve`, `qps token` (FastAPI loads only when serve runs)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every error is one line on stderr; QPS_DEBUG=1 shows tracebacks."""
    debug = os.environ.get("QPS_DEBUG", "") not in ("", "0", "false")
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="qps: %(levelname)s: %(message)s")
    try:
        code = app(args=argv, prog_name="qps", standalone_mode=False)
    except SystemExit:
        raise
    except typer.TyperException as exc:  # click's usage errors, as typer vendors them: one line too
        message = exc.format_message()
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stderr.write(message + "\n")  # `qps` alone shows the help
        else:
            ctx = getattr(exc, "ctx", None)
            where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
            sys.stderr.write(f"qps: error: {one_line(message)}{where}\n")
        sys.exit(getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("qps: interrupted\n")
        sys.exit(130)
    except QPSError as exc:
        if debug:
            raise
        sys.stderr.write(f"qps: error: {exc}\n")
        sys.exit(2)
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(f"qps: internal error: {describe_exception(exc)} (QPS_DEBUG=1 shows the traceback)\n")
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
