"""Checks a registry the way a reader would, with quilt3 and directly: pointers, manifests, entries, orphans."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import quilt3
from quilt3.util import PhysicalKey

from qps_core.packaging.s3client import quilt3_uses


@dataclass
class RegistryState:
    latest: str | None
    revisions: list[tuple[str, str]]  # (timestamp key, top hash), in key order
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def revision_hashes(self) -> list[str]:
        return [h for _, h in self.revisions]


def _body(s3: Any, bucket: str, key: str) -> str:
    return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().strip())


def _exists(s3: Any, pk: PhysicalKey) -> bool:
    params: dict[str, Any] = {"Bucket": pk.bucket, "Key": pk.path}
    if pk.version_id:
        params["VersionId"] = pk.version_id
    try:
        s3.head_object(**params)
    except Exception:
        return False
    return True


def inspect(s3: Any, registry: str, name: str, *, copies: bool = False) -> RegistryState:
    """Every pointer names an existing manifest whose entries all exist; with `copies`, every object
    version under `<name>/` in the registry is named by one of those manifests."""
    with quilt3_uses(s3):  # quilt3 reads through this client (no new client per call)
        return _inspect(s3, registry, name, copies=copies)


def _inspect(s3: Any, registry: str, name: str, *, copies: bool) -> RegistryState:
    prefix = f".quilt/named_packages/{name}/"
    listed = s3.list_objects_v2(Bucket=registry, Prefix=prefix).get("Contents", [])
    pointers = sorted(o["Key"][len(prefix) :] for o in listed)
    latest = _body(s3, registry, prefix + "latest") if "latest" in pointers else None
    revisions = [(p, _body(s3, registry, prefix + p)) for p in pointers if p != "latest"]
    state = RegistryState(latest, revisions)
    named: set[tuple[str, str | None]] = set()
    for top_hash in {h for _, h in revisions} | ({latest} if latest else set()):
        try:
            raw = s3.get_object(Bucket=registry, Key=f".quilt/packages/{top_hash}")["Body"].read().decode()
        except Exception:
            state.problems.append(f"a pointer names a missing manifest {top_hash}")
            continue
        for line in raw.splitlines()[1:]:
            entry = json.loads(line)
            pk = PhysicalKey.from_url(entry["physical_keys"][0])
            named.add((pk.path, pk.version_id))
            if not _exists(s3, pk):
                state.problems.append(f"manifest {top_hash[:8]} names a missing object {pk}")
        pkg = quilt3.Package.browse(name, registry=f"s3://{registry}", top_hash=top_hash)  # quilt3 reads it too
        if pkg.top_hash != top_hash:
            state.problems.append(f"quilt3 reads {top_hash[:8]} as {pkg.top_hash[:8]}")
    if latest is not None and quilt3.Package.browse(name, registry=f"s3://{registry}").top_hash != latest:
        state.problems.append("quilt3's latest is not the latest pointer")
    if copies:
        versions = s3.list_object_versions(Bucket=registry, Prefix=f"{name}/").get("Versions", [])
        for v in versions:
            vid = None if v.get("VersionId") in (None, "null") else v["VersionId"]
            if (v["Key"], vid) not in named and (v["Key"], None) not in named:
                state.orphans.append(f"{v['Key']}?versionId={vid}")
    return state
