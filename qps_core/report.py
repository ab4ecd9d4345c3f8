"""What the CLI prints: JSON lines for programs, aligned tables for people (used by `replay` and `demo`)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths[-1] = 0
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def crate_detail(rocrate: dict[str, Any] | None) -> str:
    """The replay table's word on an RO-Crate package: mode, parts, validation level and first issue."""
    if not rocrate:
        return ""
    validation = rocrate.get("validation") or {}
    issues = validation.get("issues") or []
    text = f"ro-crate {rocrate.get('mode')}: {rocrate.get('parts')} parts, {validation.get('level', 'ok')}"
    if issues:
        first = issues[0]
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        text += f": {first.get('id')}: {first.get('message')}{more}"
    return text


def replay_events(runner: Any, labelled: list[tuple[str, Any]], json_out: bool, dry_run: bool) -> int:
    """Run events end to end; print one line per package outcome; return the number of bad outcomes."""
    bad = 0
    rows: list[list[str]] = []
    show_bar = not json_out and sys.stderr.isatty()
    with typer.progressbar(labelled, label="packaging", file=sys.stderr, hidden=not show_bar) as bar:
        for label, event in bar:
            _, outcomes = runner.run_event(event, dry_run=dry_run)
            for outcome in outcomes:
                bad += outcome.status in ("rejected", "failed")
                data = {"input": label, **outcome.as_dict()}
                if json_out:
                    emit(data)
                    sys.stdout.flush()
                else:
                    name = f"s3://{data['registry']} {data['package_name']}" if data["registry"] else "-"
                    rows.append(
                        [
                            label,
                            outcome.status,
                            outcome.adapter or "-",
                            name,
                            (data["top_hash"] or "")[:12],
                            "" if data["files"] is None else str(data["files"]),
                            change_cell(data.get("changes")),
                            data["error"] or crate_detail(outcome.rocrate),
                        ]
                    )
    if not json_out:
        typer.echo(table(rows, ["INPUT", "STATUS", "ADAPTER", "PACKAGE", "TOP HASH", "FILES", "CHANGES", "DETAIL"]))
        counts: dict[str, int] = {}
        for row in rows:
            counts[row[1]] = counts.get(row[1], 0) + 1
        typer.echo("\n" + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return bad


def change_cell(changes: dict[str, int] | None) -> str:
    """A created revision's changes in the table: `+added -removed ~modified =unchanged`."""
    if not changes:
        return ""
    return f"+{changes['added']} -{changes['removed']} ~{changes['modified']} ={changes['unchanged']}"
