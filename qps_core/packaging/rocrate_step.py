"""The packager's RO-Crate step: a folder with a sentinel crate packages what the crate says.

    crate = listing.read_crate(s3, folder, objects, settings.sentinel_names)   # one GetObject
    step = CrateStep.plan(settings, request, folder, crate, objects)             # parts, name; raises
    step.resolve_external(s3)        # s3:// members only (one HeadObject or listing each)
    ... hash ...
    step.finish(settings)            # validation report (strict rejects), metadata

Selection, metadata and validation are pure (`rocrate_parts`, `rocrate_meta`, `rocrate_validation`);
this module adds what needs the clock and S3: missing parts (transient until
`rocrate_missing_part_seconds` after the crate's LastModified), `s3://` members, the package name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import allow_lists, s3paths
from ..aws import classify, is_not_found
from ..errors import NotReadyError, PermanentError, shown
from ..models import PackageRequest
from ..settings import Settings
from . import listing, rocrate, rocrate_meta, rocrate_parts, rocrate_validation
from .listing import CrateFile, ForeignObject, SourceObject


@dataclass(slots=True)
class CrateStep:
    crate: CrateFile
    selection: rocrate_parts.Selection
    request: PackageRequest
    external: list[ForeignObject] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # {mode, parts, validation} for the result
    meta: dict[str, Any] = field(default_factory=dict)  # `ro-crate` package metadata
    entry_meta: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def plan(
        cls,
        settings: Settings,
        request: PackageRequest,
        folder: s3paths.S3Folder,
        crate: CrateFile,
        objects: list[SourceObject],
    ) -> CrateStep:
        """Select the parts (raises on an unpackable crate or missing parts); name the package."""
        selection = rocrate_parts.select(
            crate.crate,
            crate.obj,
            objects,
            contents=settings.rocrate_contents,
            unusable=crate.problem,
            allowed=lambda bucket, key: allow_lists.source_allowed(settings, bucket, key),
            source=f"{folder.bucket}/{folder.prefix}",
            kept=listing.key_filter(request.include, request.exclude, settings.sentinel_names),
        )
        if selection.missing:
            seconds = settings.rocrate_missing_part_seconds
            raise missing_error(crate, selection.missing, seconds, f"s3://{folder.bucket}/{folder.prefix}")
        return cls(crate, selection, _named(settings, request, folder, crate))

    @property
    def objects(self) -> list[SourceObject]:
        return [*self.selection.objects, *self.external]

    def resolve_external(self, s3: Any, settings: Settings) -> dict[str, list[ForeignObject]]:
        """Look up the `s3://` members (by bucket, to hash); a missing one follows the missing-part rule."""
        by_bucket: dict[str, list[ForeignObject]] = {}
        missing: list[str] = []
        for ext in self.selection.external:
            found = _lookup(s3, ext, settings.hash_type)
            if not found:
                missing.append(ext.id)
            for obj in found:
                self.external.append(obj)
                by_bucket.setdefault(ext.bucket, []).append(obj)
        if missing:
            raise missing_error(self.crate, missing, settings.rocrate_missing_part_seconds)
        keys = [o.logical_key for o in self.objects]
        if len(keys) != len(set(keys)):
            dup = next(k for k in keys if keys.count(k) > 1)
            owner = next((e.id for e in self.selection.external if dup.startswith(e.logical_key)), dup)
            raise PermanentError(
                f"RO-Crate hasPart member {shown(owner)} maps to the logical key {dup!r}, which another member "
                "already names (two objects, one key); fix the crate"
            )
        return by_bucket

    def finish(self, settings: Settings) -> None:
        """After hashing: the validation report (strict: an error rejects), package and entry metadata."""
        sel, crate_file = self.selection, self.crate.obj.logical_key
        issues: list[dict[str, str]] = []
        if sel.reason is not None:
            issues.append(
                rocrate_validation.issue("warning", crate_file, f"{sel.reason}: the whole folder is packaged")
            )
        for ident in sel.empty:
            issues.append(rocrate_validation.issue("warning", ident, "no object under this Dataset"))
        for ident in sel.filtered:
            issues.append(rocrate_validation.issue("warning", ident, "left out by the request's include/exclude"))
        issues += rocrate_validation.crate_issues(self.crate.crate, crate_file)
        entities = dict(sel.entities)
        issues += rocrate_validation.part_issues(entities, self.objects)
        validation = rocrate_validation.report(issues)
        if settings.rocrate_validation == "strict" and validation["level"] == "error":
            first = next(i for i in validation["issues"] if i["level"] == "error")
            raise PermanentError(
                f"RO-Crate {crate_file} fails validation (rocrate_validation=strict): {shown(first['id'])}: "
                f"{first['message']}"
            )
        parts = len(self.objects) - (1 if sel.mode == "parts" else 0)
        self.summary = {"mode": sel.mode, "parts": parts, "validation": validation}
        meta: dict[str, Any] = {"file": crate_file, "mode": sel.mode}
        meta.update(rocrate_meta.package_meta(self.crate.crate, crate_file))
        meta["parts"] = parts
        if sel.skipped:
            meta["skipped"] = sel.skipped[: rocrate_meta.MAX_LIST]
        meta["validation"] = validation
        self.meta = _within_limit(meta)
        self.summary["validation"] = self.meta["validation"]
        index = rocrate.index_of(self.crate.crate)
        for key, entity in entities.items():
            values = rocrate_meta.entry_meta(entity, index)
            if values:
                self.entry_meta[key] = {"ro-crate": values}


def missing_error(
    crate: CrateFile, ids: list[str], seconds: int | None, where: str = ""
) -> PermanentError | NotReadyError:
    """Transient while the crate is younger than `seconds` (it may be ahead of its files), then permanent."""
    named = ", ".join(shown(i) for i in ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    what = f"RO-Crate {crate.obj.logical_key}{' in ' + where if where else ''} lists {named} but "
    what += "no such object exists" if len(ids) == 1 else "no such objects exist"
    stamp = crate.obj.last_modified
    if seconds is not None and seconds > 0 and stamp is not None:
        age = (datetime.now(UTC) - stamp).total_seconds()
        if age < seconds:
            wait = max(1, min(60, math.ceil(seconds - age)))
            return NotReadyError(
                f"{what}; retrying for up to {seconds} s after the crate was written", retry_after=wait
            )
    return PermanentError(f"{what}; upload the part or fix the crate")


def _named(settings: Settings, request: PackageRequest, folder: s3paths.S3Folder, crate: CrateFile) -> PackageRequest:
    """A derived name gives way to the crate's `#packageName` identifier; an invalid one rejects."""
    if crate.crate is None:
        return request
    value = rocrate_meta.package_name(crate.crate, crate.obj.logical_key)
    if value is None:
        return request
    derived = s3paths.derive_package_name(folder, settings.default_prefix, settings.default_suffix)
    if request.package_name != derived:
        return request  # an explicit name is never replaced
    try:
        s3paths.check_package_name(value)
    except Exception:
        raise PermanentError(
            f"RO-Crate {crate.obj.logical_key}: the identifier #packageName {shown(value)} is not a valid package "
            "name (prefix/suffix, each [\\w-]+); fix the crate or give package_name"
        ) from None
    return request.model_copy(update={"package_name": value})


def _lookup(s3: Any, ext: rocrate_parts.External, hash_type: str) -> list[ForeignObject]:
    """An `s3://` member's object (HeadObject), or every object under its prefix (a listing)."""
    uri = f"s3://{ext.bucket}/{ext.key}"
    if ext.is_prefix:
        folder = s3paths.S3Folder(ext.bucket, ext.key)
        found = listing.list_folder(s3, folder)
        return [
            ForeignObject(
                key=o.key,
                logical_key=ext.logical_key + o.logical_key,
                size=o.size,
                version_id=o.version_id,
                etag=o.etag,
                algorithms=o.algorithms,
                last_modified=o.last_modified,
                hash_type=hash_type,
                bucket=ext.bucket,
            )
            for o in found
        ]
    try:
        head = s3.head_object(Bucket=ext.bucket, Key=ext.key)
    except Exception as exc:
        if is_not_found(exc):
            return []
        raise classify(exc, "HeadObject", uri) from exc
    version = head.get("VersionId")
    version = None if version in (None, "", "null") else version
    return [
        ForeignObject(
            key=ext.key,
            logical_key=ext.logical_key,
            size=int(head.get("ContentLength", 0)),
            version_id=version,
            etag=None if version else head.get("ETag"),
            algorithms=None,
            last_modified=head.get("LastModified"),
            hash_type=hash_type,
            bucket=ext.bucket,
        )
    ]


MAX_META_BYTES = 256 * 1024


def _within_limit(meta: dict[str, Any]) -> dict[str, Any]:
    """Lists and strings are bounded one by one; a pathological crate (deeply nested parameter values)
    could still add up: then the run's parameters are left out and the report says so."""
    if len(json.dumps(meta, ensure_ascii=False)) <= MAX_META_BYTES or "parameters" not in meta.get("run", {}):
        return meta
    run = {k: v for k, v in meta["run"].items() if k != "parameters"}
    issue = rocrate_validation.issue("warning", "run", f"the run's parameters exceed {MAX_META_BYTES} bytes: left out")
    validation = meta["validation"]
    issues = [*validation["issues"], issue][: rocrate_validation.MAX_ISSUES]
    level = "warning" if validation["level"] == "ok" else validation["level"]
    return {**meta, "run": run, "validation": {**validation, "level": level, "issues": issues}}
