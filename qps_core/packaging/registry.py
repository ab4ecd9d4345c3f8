"""The registry: reading revisions, workflow validation, and committing a revision (copies, manifest,
pointers). The commit protocol lives here and nowhere else.

This module imports quilt3 and boto3: only the packager (and `qps show`) import it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

import botocore.exceptions
from quilt3.backends import get_package_registry
from quilt3.util import PhysicalKey, QuiltException

from ..aws import classify, error_code, find_client_error, find_failure, http_status, is_not_found
from ..errors import PackagingError, PermanentError, TransientError
from . import checksums
from .changes import Changes, all_added, diff_manifest
from .manifest import Manifest
from .s3client import quilt3_uses

if TYPE_CHECKING:
    from .previous import Previous

T = TypeVar("T")
logger = logging.getLogger(__name__)


ETAGS_PREFIX = ".quilt/qps/etags/"  # per manifest: the ETags of its unversioned entries (docs/design.md §5)
LOOK_BEFORE_BYTES = 8 * 1024 * 1024  # a manifest larger than this is looked for before it is uploaded
MAX_ROUNDS = 6  # reads and conditional writes of `latest` before giving up (transient)
MAX_POINTER_SCAN = 60  # revision keys tried after the one `latest` names
COPY_WORKERS = 16
MAX_COPY_OBJECT = 5 * 1024**3  # CopyObject's limit; larger objects are copied in parts
META_ATTEMPT = "qps-attempt"  # the package() call that wrote an object
META_COMMIT = "qps-commit"  # on a revision pointer: the attempt that wrote the `latest` it records
META_REVISION = "qps-revision"  # on `latest`: the timestamp key of its revision pointer
META_PACKAGE = "qps-package"  # on a copy: the package it was copied for
META_HASH = "qps-hash"  # on a copy: its quilt3 hash


@dataclass(frozen=True, slots=True)
class Latest:
    """The `latest` pointer: its top hash, ETag, and (when QPS wrote it) its commit and revision key."""

    top_hash: str
    etag: str | None
    commit: str | None
    revision: int | None

    def metadata(self) -> dict[str, str]:
        return {META_ATTEMPT: self.commit or "", META_REVISION: str(self.revision)}


@dataclass(frozen=True, slots=True)
class Commit:
    status: Literal["created", "unchanged"]
    top_hash: str
    changes: Changes | None = None  # on `created`: against the `latest` this commit replaced


def error_for(exc: BaseException, action: str, uri: str) -> PackagingError:
    if isinstance(exc, PackagingError):
        return exc
    inner = find_client_error(exc)
    if inner is not None:
        return classify(inner, action, uri)
    if isinstance(exc, QuiltException):
        return PermanentError(f"{action} on {uri}: {exc}")
    return classify(exc, action, uri)


class Registry:
    """One registry bucket, through the packager's S3 client."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.q3 = get_package_registry(f"s3://{bucket}")
        self._config: Future[Any] | None = None  # the workflow config, when read ahead

    # ------------------------------------------------------------------ workflow

    def read_workflow_config(self, pool: Executor) -> None:
        """Start reading the registry's workflow config on `pool` (beside the listing, off the commit's
        path); `validate_workflow` then uses what it read, and raises what reading it raised."""
        self._config = pool.submit(self._load_workflow_config)

    def _load_workflow_config(self) -> Any:
        from quilt3.workflows import WorkflowConfig

        with quilt3_uses(self.s3):
            return WorkflowConfig.load(self.q3.workflow_conf_pk)

    def validate_workflow(self, pkg: Manifest, name: str, message: str | None, workflow: Any) -> None:
        """quilt3's workflow validation (`workflow`: ... = the default, None = none, str = that id)."""
        config_uri = str(self.q3.workflow_conf_pk)
        try:
            if self._config is not None:
                config = self._config.result()  # raised here, a failure to read it is classified below
                self.q3.get_workflow_config = lambda: config
            with quilt3_uses(self.s3):
                if workflow is None and self.q3.get_workflow_config() is None:
                    workflow = ...  # "" asks for no workflow; a registry without a config has none anyway
                pkg.validate_with_workflow(registry=self.q3, workflow=workflow, name=name, message=message)
        except Exception as exc:
            inner = find_failure(exc)  # an S3 error, or a reset or cut-off body while reading the config
            if inner is not None and not is_not_found(inner):
                raise classify(inner, "GetObject", config_uri) from exc
            wanted = (
                "the default workflow" if workflow is ... else "no workflow" if workflow is None else repr(workflow)
            )
            raise PermanentError(
                f"workflow validation of {name} for s3://{self.bucket} ({wanted}; {config_uri}) failed: {exc}"
            ) from exc

    # ------------------------------------------------------------------ committing

    def commit(
        self, pkg: Manifest, name: str, *, should_copy: bool, attempt: str, previous: Previous | None = None
    ) -> Commit:
        """Record `pkg` as the latest revision of `name`, unless it already is (docs/design.md §5).

        `attempt` identifies this call (its writes carry it as object metadata, so an ambiguous
        failure is resolved by reading back). Unversioned sources are copied pinned to their listed ETags.
        `previous`: `latest` and its revision as the packager read them beside the listing
        (`previous.read_previous`): the first round starts from that `latest` instead of reading it again
        (a stale one only fails the conditional write, and the next round reads it); while `latest`
        names that revision, `changes` come from its entries instead of a second read of its manifest.
        """
        known = previous.known if previous is not None and previous.name == name else None
        early = previous if previous is not None and previous.name == name else None
        top_hash: str = pkg.top_hash
        manifest_ready = False
        changes: Changes | None = None
        diffed: str | None = None  # the top hash `changes` was computed against ("" for none)
        for _ in range(MAX_ROUNDS):
            current = early.latest if early is not None else self._latest(name)
            early = None  # later rounds read it
            if current is not None and current.top_hash == top_hash:
                done = self._record_revision(name, current, attempt)
                if done.status == "created" and changes is None:
                    changes = self._changes_since_revision(name, current, pkg)  # an earlier try's `latest`
                return replace(done, changes=changes) if done.status == "created" else done
            if not manifest_ready:
                self._write_manifest(pkg, name, top_hash, should_copy, attempt)
                manifest_ready = True
            previous_hash = current.top_hash if current is not None else ""
            if diffed != previous_hash:  # streamed before `latest` moves: a failure to read it writes no pointer
                if known is not None and previous_hash and known.top_hash == previous_hash:
                    changes = known.changes((o.logical_key, (o.hash_type, o.checksum or "")) for o in pkg.objects)
                    known = None  # consumed
                else:
                    changes = self.changes_against(name, previous_hash or None, pkg)
                diffed = previous_hash
            mine = Latest(top_hash, None, attempt, int(time.time()))
            condition = {"IfMatch": current.etag} if current is not None else {"IfNoneMatch": "*"}
            pk = self.q3.pointer_latest_pk(name)
            try:
                self.s3.put_object(
                    Bucket=self.bucket, Key=pk.path, Body=top_hash.encode(), Metadata=mine.metadata(), **condition
                )
            except Exception as exc:
                if _conditional_failure(exc) or isinstance(classify(exc, "PutObject", ""), TransientError):
                    continue  # moved by someone else, or an ambiguous failure: read it again and decide
                raise classify(exc, "PutObject", self._uri(pk.path)) from exc
            done = self._record_revision(name, mine, attempt, fresh=True)
            return replace(done, changes=changes) if done.status == "created" else done
        raise TransientError(
            f"PutObject on {self._uri(self.q3.pointer_latest_pk(name).path)}: latest kept changing or S3 kept "
            "failing; retry later"
        )

    def read_latest(self, name: str) -> Latest | None:
        """The `latest` pointer of `name` (None: no revision yet)."""
        return self._latest(name)

    def stream_manifest(self, name: str, top_hash: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """`consume(lines)` over the manifest of `name@top_hash`, streamed (never read whole)."""
        body = self.s3.get_object(Bucket=self.bucket, Key=self.q3.manifest_pk(name, top_hash).path)["Body"]
        try:
            return consume(body.iter_lines(chunk_size=1024 * 1024))
        finally:
            body.close()

    def _latest(self, name: str) -> Latest | None:
        key = self.q3.pointer_latest_pk(name).path
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
            body = resp["Body"].read()
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, "GetObject", self._uri(key)) from exc
        meta = resp.get("Metadata") or {}
        revision = meta.get(META_REVISION, "")
        return Latest(
            body.decode("utf-8", "replace").strip(),
            resp.get("ETag"),
            meta.get(META_ATTEMPT) or None,
            int(revision) if revision.isdigit() else None,
        )

    # ------------------------------------------------------------------ changes (docs/design.md §12)

    def changes_against(self, name: str, previous: str | None, pkg: Manifest) -> Changes | None:
        """What `pkg` changes against the revision `previous` (a top hash; None: no previous revision).
        The previous manifest is streamed line by line, never held. A transient failure to read it raises
        (nothing is committed yet: the retry reads it again); a missing one counts as empty; one that
        cannot be read for good (denied, not JSON lines) gives None: it never stops the new revision."""
        entries = ((o.logical_key, (o.hash_type, o.checksum or "")) for o in pkg.objects)
        if previous is None:
            return all_added(entries)
        uri = self._uri(self.q3.manifest_pk(name, previous).path)
        body = None
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.q3.manifest_pk(name, previous).path)["Body"]
            return diff_manifest(body.iter_lines(chunk_size=1024 * 1024), entries)
        except Exception as exc:
            if body is None and is_not_found(exc):
                logger.warning("the previous manifest %s is missing; every entry counts as added", uri)
                return all_added(entries)
            if isinstance(exc, ValueError):  # json: not JSON lines
                logger.warning("the previous manifest %s is not JSON lines; no changes reported", uri)
                return None
            error = classify(exc, "GetObject", uri)
            if not error.permanent:
                raise error from exc
            logger.warning("cannot read the previous manifest %s (%s); no changes reported", uri, error)
            return None
        finally:
            if body is not None:
                body.close()

    def _changes_since_revision(self, name: str, latest: Latest, pkg: Manifest) -> Changes | None:
        """Changes of a commit an earlier try made `latest` (its answer lost): against the newest revision
        pointer that is not this commit's. Best effort: None when it cannot be read (the revision stands)."""
        try:
            prefix = self.q3.pointer_pk(name, "0").path[:-1]
            stamps: list[tuple[int, str]] = []
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    stamp = item["Key"][len(prefix) :]
                    if stamp.isdigit():
                        stamps.append((int(stamp), item["Key"]))
            previous = None
            for _, key in sorted(stamps, reverse=True)[:MAX_ROUNDS]:
                resp = self.s3.get_object(Bucket=self.bucket, Key=key)
                body = resp["Body"].read().decode("utf-8", "replace").strip()
                if (resp.get("Metadata") or {}).get(META_COMMIT) != latest.commit:
                    previous = body or None
                    break
            return self.changes_against(name, previous, pkg)
        except Exception as exc:
            logger.warning("could not compute the changes of %s@%s: %s", name, latest.top_hash, type(exc).__name__)
            return None

    def _record_revision(self, name: str, latest: Latest, attempt: str, *, fresh: bool = False) -> Commit:
        """Make sure the revision `latest` names has its timestamped pointer; `created` iff this attempt wrote it.

        The pointer key is the first of `revision`, `revision + 1`, ... that is free or already holds this
        commit (identified by the attempt that wrote `latest`), so every delivery that completes one commit
        lands on the same key and exactly one creates it. A `latest` QPS did not write (quilt3, an older
        QPS) is complete as it is. `fresh`: this attempt has just written `latest`, so the first key is
        almost surely free and is created without reading it first (a conditional create that finds it
        taken reads it then); a redelivery reads before it writes.
        """
        if latest.commit is None or latest.revision is None:
            return Commit("unchanged", latest.top_hash)
        key = ""
        meta = {META_ATTEMPT: attempt, META_COMMIT: latest.commit}
        for second in range(latest.revision, latest.revision + MAX_POINTER_SCAN):
            key = self.q3.pointer_pk(name, str(second)).path
            found = None if fresh and second == latest.revision else self._head(key)  # a redelivery only reads
            if found is None:
                existing = self._create(key, latest.top_hash.encode(), meta, attempt)
            else:
                existing = found.get("Metadata") or {}
                if existing.get(META_ATTEMPT) == attempt and existing.get(META_COMMIT) == latest.commit:
                    existing = None  # this attempt's own earlier write
            if existing is None:
                logger.info("recorded %s@%s in s3://%s as %s", name, latest.top_hash, self.bucket, second)
                return Commit("created", latest.top_hash)
            if existing.get(META_COMMIT) == latest.commit:
                return Commit("unchanged", latest.top_hash)  # another delivery recorded this commit
        raise TransientError(f"PutObject on {self._uri(key)}: no free revision key; retry later")

    def _create(self, key: str, body: bytes | IO[bytes], meta: dict[str, str], attempt: str) -> dict[str, str] | None:
        """PutObject with If-None-Match: None when this attempt created it (now or in an earlier try whose
        answer was lost), else the existing object's metadata."""
        unresolved: PackagingError | None = None  # the last round could not read the key back
        for _ in range(MAX_ROUNDS):
            if not isinstance(body, bytes):
                body.seek(0)
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=meta, IfNoneMatch="*")
                return None
            except Exception as exc:
                if not _conditional_failure(exc) and not isinstance(classify(exc, "", ""), TransientError):
                    raise classify(exc, "PutObject", self._uri(key)) from exc
            try:
                found = self._head(key)  # resolves an ambiguous failure
            except PackagingError as error:
                if error.permanent:
                    raise
                unresolved = error  # it may be written, by this attempt: ask again (the create, then the read)
                continue
            unresolved = None
            if found is None:
                continue  # not written (a conflict, or a failure before S3 applied it): try again
            found_meta: dict[str, str] = found.get("Metadata") or {}
            return None if found_meta.get(META_ATTEMPT) == attempt else found_meta
        if unresolved is not None:
            raise unresolved  # maybe written: never reported as "nothing was written"
        raise _NotWritten(f"PutObject on {self._uri(key)}: S3 kept failing; retry later")

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, "HeadObject", self._uri(key)) from exc
        return head

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _write_manifest(self, pkg: Manifest, name: str, top_hash: str, should_copy: bool, attempt: str) -> None:
        """The manifest keyed by top hash, created once and never rewritten (another package may own it:
        the top hash leaves out physical keys). An existing one is reused with its data, copies included."""
        key = self.q3.manifest_pk(name, top_hash).path
        if should_copy and self._head(key) is not None:  # copies are costly: look before making them
            logger.info("%s@%s in s3://%s reuses an existing manifest", name, top_hash, self.bucket)
            return
        copies: list[PhysicalKey] = []
        if should_copy:
            copies = self._copy_into_registry(pkg, name, attempt)
        # The manifest streams to a temporary file (Lambda's /tmp), never a second copy in memory.
        with tempfile.TemporaryFile() as buf:
            try:
                pkg.dump(buf)
            except (QuiltException, OSError) as exc:
                self._discard(copies)
                raise PermanentError(f"PutObject on {self._uri(key)}: {exc}") from None
            if not should_copy and buf.tell() > LOOK_BEFORE_BYTES and self._head(key) is not None:
                logger.info("%s@%s in s3://%s reuses an existing manifest", name, top_hash, self.bucket)
                return  # a large manifest is not uploaded only to be refused as existing
            try:
                existing = self._create(key, buf, {META_ATTEMPT: attempt}, attempt)
            except PackagingError as exc:
                if exc.permanent or isinstance(exc, _NotWritten):
                    self._discard(copies)  # S3 refused it, or read back as absent: nothing names the copies
                raise  # else it may have been written: keep the copies it may name
        if existing is not None:  # an earlier revision, or a concurrent delivery with its own copies, wrote it first
            logger.info("%s@%s in s3://%s reuses an existing manifest", name, top_hash, self.bucket)
            self._discard(copies)
            return
        self._write_etags(pkg, top_hash)

    # ------------------------------------------------------------------ ETags of unversioned entries

    def etags_key(self, top_hash: str) -> str:
        """Beside the manifest `top_hash`: the ETags its unversioned entries were hashed at, line by line."""
        return f"{ETAGS_PREFIX}{top_hash}"

    def _write_etags(self, pkg: Manifest, top_hash: str) -> None:
        """Best effort, once per manifest: without it the same unversioned folder is only HEADed again."""
        key = self.etags_key(top_hash)
        with tempfile.TemporaryFile() as buf:
            if not pkg.dump_etags(buf):
                return  # every entry names a version (or a copy): nothing to record
            buf.seek(0)
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=buf, IfNoneMatch="*")
            except Exception as exc:
                logger.info("ETags of %s not recorded (%s); it stays correct, only slower next time", key, exc)

    def open_etags(self, top_hash: str) -> Any:
        """The recorded ETags of manifest `top_hash` as a streaming body, or None when there are none."""
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self.etags_key(top_hash))["Body"]
        except Exception as exc:
            if not is_not_found(exc):
                logger.info("ETags of %s not read (%s)", top_hash, type(exc).__name__)
            return None

    def _copy_into_registry(self, pkg: Manifest, name: str, attempt: str) -> list[PhysicalKey]:
        """Copy every entry to `s3://registry/<name>/<logical_key>`, marked as this package's copy."""
        moves: list[tuple[int, str]] = []
        for index, obj in enumerate(pkg.objects):
            dest = f"{name}/{obj.logical_key}"
            if pkg.bucket_of(obj) == self.bucket and obj.key == dest:
                continue  # already in place
            moves.append((index, dest))
        if not moves:
            return []
        copier = _Copier(self.s3, self.bucket, name, attempt, pkg)
        created: list[PhysicalKey] = []
        failures: list[BaseException] = []
        with ThreadPoolExecutor(min(COPY_WORKERS, len(moves)), thread_name_prefix="qps-copy") as pool:
            futures = {pool.submit(copier.copy, index, dest): index for index, dest in moves}
            for fut in as_completed(futures):
                try:
                    pk, new = fut.result()
                except Exception as exc:
                    failures.append(exc)
                    continue
                if new:
                    created.append(pk)
                pkg.moved[futures[fut]] = pk
        if failures:
            self._discard(created)
            for dest in copier.uncertain:
                copier.sweep(dest, keep=None)
            permanent = [e for e in failures if getattr(e, "permanent", True)]
            first = permanent[0] if permanent else failures[0]
            raise error_for(first, "CopyObject", self._uri(f"{name}/"))
        return created

    def _discard(self, created: Iterable[PhysicalKey]) -> None:
        """Best effort: remove the object versions this attempt copied when no manifest can name them.

        Only exact versions: on an unversioned registry a copy's key may be named by a concurrent
        delivery's manifest, so it stays (marked as this package's copy; the retry reuses it).
        """
        for pk in created:
            if pk.version_id is None:
                continue
            try:
                self.s3.delete_object(Bucket=pk.bucket, Key=pk.path, VersionId=pk.version_id)
            except Exception:
                logger.warning("could not remove %s after a failed push", pk)


class _Copier:
    """Copies one entry into the registry, refusing to overwrite an object that is not this package's copy."""

    def __init__(self, s3: Any, bucket: str, name: str, attempt: str, pkg: Manifest) -> None:
        self.s3, self.bucket, self.name, self.attempt, self.pkg = s3, bucket, name, attempt, pkg
        self.uncertain: set[str] = set()  # keys whose copy failed ambiguously: it may have landed

    def sweep(self, dest: str, keep: str | None) -> None:
        """Remove the versions of `dest` this attempt wrote, but `keep`: tries whose answer was lost.

        Versioned registries only (unversioned: the one object is this package's copy, reused later).
        """
        try:
            listed = self.s3.list_object_versions(Bucket=self.bucket, Prefix=dest).get("Versions", [])
            for version in listed:
                vid = version.get("VersionId")
                if version["Key"] != dest or vid in (None, "null", keep):
                    continue
                head = self.s3.head_object(Bucket=self.bucket, Key=dest, VersionId=vid)
                if (head.get("Metadata") or {}).get(META_ATTEMPT) == self.attempt:
                    self.s3.delete_object(Bucket=self.bucket, Key=dest, VersionId=vid)
        except Exception:
            logger.warning("could not remove stray copies of s3://%s/%s", self.bucket, dest)

    def copy(self, index: int, dest: str) -> tuple[PhysicalKey, bool]:
        """(the copy's physical key, whether this attempt created it) for the manifest's entry `index`."""
        entry = self.pkg.entry(index)
        uri = f"s3://{self.bucket}/{dest}"
        quilt_hash = entry.hash["value"]
        head = self._head(dest, uri)
        if head is None:
            condition = {"IfNoneMatch": "*"}
        else:
            meta = head.get("Metadata") or {}
            if meta.get(META_PACKAGE) != self.name:
                raise PermanentError(
                    f"CopyObject into {uri}: an object QPS did not copy for {self.name} is already there; "
                    "refusing to overwrite it (choose another package name or registry)"
                )
            version = head.get("VersionId")
            if version in (None, "", "null") and meta.get(META_HASH) == quilt_hash:
                return PhysicalKey(self.bucket, dest, None), False  # identical bytes, already this package's
            condition = {"IfMatch": head["ETag"]}  # this package's earlier copy: a new version replaces it
        src = entry.physical_key
        source: dict[str, Any] = {"Bucket": src.bucket, "Key": src.path}
        pin: dict[str, Any] = {}
        if src.version_id:
            source["VersionId"] = src.version_id
        elif self.pkg.objects[index].etag:
            pin["CopySourceIfMatch"] = self.pkg.objects[index].etag  # unversioned: the bytes we listed
        meta = {META_PACKAGE: self.name, META_HASH: quilt_hash, META_ATTEMPT: self.attempt}
        try:
            if entry.size <= MAX_COPY_OBJECT:
                resp = self.s3.copy_object(
                    Bucket=self.bucket,
                    Key=dest,
                    CopySource=source,
                    MetadataDirective="REPLACE",
                    Metadata=meta,
                    ChecksumAlgorithm="SHA256",  # S3 computes it for the copy (a source's composite one does not fit)
                    **pin,
                    **condition,
                )
            else:
                resp = self._multipart(dest, source, entry.size, meta, pin, condition)
        except Exception as exc:
            if _conditional_failure(exc):
                again = self._head(dest, uri)
                if again is not None and (again.get("Metadata") or {}).get(META_ATTEMPT) == self.attempt:
                    return self._key(dest, again.get("VersionId")), True  # our own earlier try landed
                raise TransientError(f"CopyObject into {uri}: the object changed while it was being copied") from exc
            error = classify(exc, "CopyObject", uri)
            if not error.permanent:
                self.uncertain.add(dest)
            raise error from exc
        key = self._key(dest, resp.get("VersionId"))
        if key.version_id and (resp.get("ResponseMetadata") or {}).get("RetryAttempts"):
            self.sweep(dest, keep=key.version_id)  # an earlier try may have landed unseen
        return key, True

    def _key(self, dest: str, version: str | None) -> PhysicalKey:
        return PhysicalKey(self.bucket, dest, None if version in (None, "", "null") else version)

    def _head(self, key: str, uri: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, "HeadObject", uri) from exc
        return head

    def _multipart(
        self,
        dest: str,
        source: dict[str, Any],
        size: int,
        meta: dict[str, str],
        pin: dict[str, Any],
        condition: dict[str, str],
    ) -> dict[str, Any]:
        """UploadPartCopy in quilt3's chunks, completed under `condition`; aborted on failure."""
        upload = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=dest, Metadata=meta, ChecksumAlgorithm="SHA256"
        )["UploadId"]
        try:
            step = checksums.chunksize(size)
            parts = []
            for number, start in enumerate(range(0, size, step), start=1):
                end = min(start + step, size) - 1
                part = self.s3.upload_part_copy(
                    Bucket=self.bucket,
                    Key=dest,
                    UploadId=upload,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                    **pin,
                )
                result = part["CopyPartResult"]
                parts.append(
                    {"PartNumber": number, "ETag": result["ETag"]}
                    | ({"ChecksumSHA256": result["ChecksumSHA256"]} if result.get("ChecksumSHA256") else {})
                )
            try:
                done: dict[str, Any] = self.s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=dest, UploadId=upload, MultipartUpload={"Parts": parts}, **condition
                )
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "NoSuchUpload":
                    raise
                # A retried complete whose first try landed: the upload is gone, the object is ours.
                head = self._head(dest, f"s3://{self.bucket}/{dest}")
                if head is None or (head.get("Metadata") or {}).get(META_ATTEMPT) != self.attempt:
                    raise
                return head
            return done
        except Exception:
            try:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=dest, UploadId=upload)
            except Exception:
                logger.warning("could not abort the multipart copy into s3://%s/%s", self.bucket, dest)
            raise


class _NotWritten(TransientError):
    """A create that failed every time and was read back as absent: nothing was written."""


def _conditional_failure(exc: BaseException) -> bool:
    """412 (the condition failed) or 409 (a concurrent conditional write): read again and decide."""
    return isinstance(exc, botocore.exceptions.ClientError) and (
        error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
        or http_status(exc) in (409, 412)
    )
