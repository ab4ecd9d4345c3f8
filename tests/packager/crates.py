"""The shared RO-Crates (../shared/crates, beside the checkout; see its SOURCES.md) recreated in moto.

Each crate folder holds `ro-crate-metadata.json` and `folder.tsv` (size and path of the other files of
the crate's origin folder). `upload` puts the crate, the origin folder's files (synthetic bytes of the
listed size, or the real bytes where `files/` has them), every relative `File` the crate describes
that is not already there (at its `contentSize`), and extra files the crate does not list.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.packager.pkghelpers import put

# ../shared/crates beside the checkout (QPS_SHARED_CRATES overrides it, e.g. for a git worktree elsewhere)
SHARED = Path(os.environ.get("QPS_SHARED_CRATES") or Path(__file__).resolve().parents[2].parent / "shared" / "crates")
EXTRAS = {"zz-other-run/old-result.csv": b"from an earlier run\n", "scratch.log": b"log line\n"}
SHARED_BUCKET = "crates-shared"


def shared_dir() -> Path:
    """../shared/crates; missing: a failure in CI (CI=true), else a skip with the reason."""
    if not (SHARED / "SOURCES.md").is_file():
        message = f"the shared RO-Crates are not at {SHARED} (CI checks ../shared out beside the repository)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


def crate_json(name: str) -> dict[str, Any]:
    return dict(json.loads((shared_dir() / name / "ro-crate-metadata.json").read_text()))


def crate_names() -> list[str]:
    if not (SHARED / "SOURCES.md").is_file():
        return []
    return sorted(p.name for p in SHARED.iterdir() if (p / "ro-crate-metadata.json").is_file())


def _synthetic(path: str, size: int) -> bytes:
    seed = path.encode() or b"x"
    return (seed * (size // len(seed) + 1))[:size]


def origin_files(name: str) -> dict[str, int]:
    tsv = shared_dir() / name / "folder.tsv"
    out: dict[str, int] = {}
    if tsv.is_file():
        for line in tsv.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            size, _, path = line.partition("\t")
            out[path] = int(size)
    return out


def described_files(crate: dict[str, Any]) -> dict[str, int]:
    """Relative File entities (decoded key -> contentSize, or 16 bytes when it says none)."""
    out: dict[str, int] = {}
    for entity in crate.get("@graph", []):
        ident = entity.get("@id", "")
        types = entity.get("@type", [])
        types = types if isinstance(types, list) else [types]
        if "File" not in types or ident.startswith("#") or ":" in ident.split("/")[0]:
            continue
        size = entity.get("contentSize")
        try:
            out[unquote(ident)] = int(size)
        except (TypeError, ValueError):
            out[unquote(ident)] = 16
    return out


def upload(s3: Any, bucket: str, prefix: str, name: str, *, skip: tuple[str, ...] = (), extras: bool = True) -> bytes:
    """Recreate the crate's folder under s3://bucket/prefix/; returns the crate file's bytes."""
    folder = shared_dir() / name
    data = (folder / "ro-crate-metadata.json").read_bytes()
    files = origin_files(name)
    try:
        crate = json.loads(data)
    except ValueError:
        crate = {}
    for path, size in described_files(crate).items():
        files.setdefault(path, size)
    real = folder / "files"
    for path, size in files.items():
        if path in skip or ".." in path.split("/"):
            continue
        body = (real / path).read_bytes() if (real / path).is_file() else _synthetic(path, size)
        put(s3, bucket, f"{prefix}/{path}", body)
    if extras:
        for path, body in EXTRAS.items():
            put(s3, bucket, f"{prefix}/{path}", body)
    put(s3, bucket, f"{prefix}/ro-crate-metadata.json", data)
    return data
