"""Hashing the listed objects: quilt3 hashes from S3's own checksums, else computed by S3, else read.

docs/design.md §9. Per object, cheapest first:

1. empty: a constant;
2. one HeadObject (the lean path, `s3head`) whose checksum is the hash: `CRC64NVME` at any size, or a
   SHA-256 that fits quilt3's chunking (full object of one chunk; composite of exactly its chunks,
   confirmed by one GetObjectAttributes);
3. nothing reusable: S3 computes it on a scratch copy (at or above `server_checksum_threshold`) or
   the bytes are read as parallel 8 MiB ranges (below it) — `checksum_io`.

A HEAD is skipped when the listing says the object has no checksum of the wanted algorithm, and
when the previous revision's entry names the very object version listed (`previous`: its hash is
taken from there, counted as the path "previous"; a changed object is a new version and is hashed).
Hashing starts while the folder is still being listed (`HashRun.submit` per page) with a bounded
number of objects in flight; `HashRun.wait` returns once every object has its hash, or raises the
first failure (a permanent one first). Each object is pinned to the version (or, unversioned, the
ETag) the listing saw: an object that changes or vanishes in between is a transient failure.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from ..aws import classify
from ..errors import PermanentError, TransientError
from . import checksum_io, checksums, listing
from .checksum_io import failure
from .listing import SourceObject

if TYPE_CHECKING:
    from ..settings import Settings
    from .previous import Known, Previous
    from .s3head import S3Head

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 16
WINDOW = 4096  # objects in flight at once: bounded memory, and back-pressure on the listing
DEFAULT_THRESHOLD = 32 * 1024 * 1024
STALL_SECONDS = 120  # no object or part finished for this long: a transient failure, not a Lambda timeout
_PENDING = ""  # SourceObject.checksum while its hash is being computed


def botocore_intercepted() -> bool:
    """moto's in-process mock answers botocore's requests: a client that bypasses botocore would miss it."""
    models = sys.modules.get("moto.core.models")
    return bool(getattr(getattr(models, "botocore_stubber", None), "enabled", False))


class Hasher:
    """Fills in `SourceObject.checksum`. One per Packager (its boto3 client; one lean HEAD client)."""

    def __init__(
        self,
        s3: Any,
        max_workers: int = DEFAULT_WORKERS,
        *,
        settings: Settings | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.s3 = s3
        self.max_workers = max(1, max_workers)
        self.endpoint_url = endpoint_url
        self.threshold = settings.server_checksum_threshold if settings is not None else DEFAULT_THRESHOLD
        self.lean_heads: bool | None = None  # None: the lean path unless botocore is intercepted (tests)
        self._heads: S3Head | None = None
        self._lock = threading.Lock()

    def lister(self) -> Callable[[str, str], Iterator[dict[str, Any]]] | None:
        """The lean listing (`listing.lean_pages`) when the lean client is in use, else None (boto3)."""
        heads = self._lean()
        if heads is None:
            return None
        return lambda bucket, prefix: listing.lean_pages(heads, bucket, prefix)

    def _lean(self) -> S3Head | None:
        lean = self.lean_heads if self.lean_heads is not None else not botocore_intercepted()
        if not lean:
            return None
        usable, endpoint = lean_endpoint(self.s3, self.endpoint_url)
        if not usable:
            return None
        with self._lock:
            if self._heads is None:
                from .s3head import S3Head

                # the boto3 client's own credentials (same chain, refreshed alike) and region
                signer = getattr(self.s3, "_request_signer", None)
                self._heads = S3Head(
                    endpoint,
                    from_environment=False,  # `endpoint` is what boto3 resolved, AWS_ENDPOINT_URL included
                    credentials=getattr(signer, "_credentials", None),
                    region=getattr(self.s3.meta, "region_name", None),
                )
            return self._heads

    def run(self, bucket: str, scratch_bucket: str | None) -> HashRun:
        """Hash objects of `bucket`; server-side checksums use scratch keys in `scratch_bucket` (None: never)."""
        return HashRun(self, bucket, scratch_bucket)

    def hash_all(self, bucket: str, objects: list[SourceObject], scratch_bucket: str | None = None) -> None:
        with self.run(bucket, scratch_bucket) as run:
            run.wait(objects)


class _CountingPool(ThreadPoolExecutor):
    """The parts pool (ranged reads, part copies): calls `tick` as each part finishes."""

    def __init__(self, workers: int, tick: Callable[[], None]) -> None:
        super().__init__(workers, thread_name_prefix="qps-part")
        self._tick = tick

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._tick()

        return super().submit(counted)


class HashRun:
    """One folder's hashing. `with hasher.run(...) as run: run.submit(page)...; run.wait(all_objects)`."""

    def __init__(self, hasher: Hasher, bucket: str, scratch_bucket: str | None) -> None:
        self.hasher = hasher
        self.s3 = hasher.s3
        self.bucket = bucket
        self.scratch_bucket = scratch_bucket
        self._cond = threading.Condition()
        self._pending = 0
        self._progress = 0  # objects and parts finished: what the stall check watches
        self._errors: list[BaseException] = []
        self._pool = ThreadPoolExecutor(hasher.max_workers, thread_name_prefix="qps-hash")
        self._parts = _CountingPool(hasher.max_workers, self._tick)
        self._warned = False
        self.paths: dict[str, int] = {"reused": 0, "server": 0, "read": 0, "previous": 0}  # objects by path
        self._known: Future[Previous | None] | None = None  # the previous revision, being read
        self._deferred: list[SourceObject] = []  # listed while it was still being read
        self._previous: Known | None = None  # the previous revision, once read
        self._lean: S3Head | Literal[False] | None = None  # the lean HEAD client (False: boto3), once known

    def __enter__(self) -> HashRun:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._parts.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- feeding and waiting

    def use_previous(self, known: Future[Previous | None]) -> None:
        """Take hashes from the previous revision (`previous.read_previous`, read meanwhile) where its
        entries name the very object versions listed. Objects listed before it is read wait for it
        (the listing goes on); `wait` waits for it."""
        self._known = known

    def submit(self, objects: Iterable[SourceObject]) -> None:
        """Start hashing these objects (a listing page); blocks while too many are in flight."""
        if self._known is not None:
            if not self._known.done():
                self._deferred.extend(objects)
                return
            self._take_previous()
        self._submit(objects)

    def _take_previous(self) -> None:
        """The previous revision is read: hashes from it for the deferred objects, then hash the rest."""
        assert self._known is not None
        try:
            found = self._known.result(timeout=STALL_SECONDS)
        except Exception:
            found = None  # `read_previous` returns None on failure; a stall is not worth failing for
        known = found.known if found is not None else None
        self._known = None
        deferred, self._deferred = self._deferred, []
        self._previous = known
        if deferred:
            self._submit(deferred)

    def _submit(self, objects: Iterable[SourceObject]) -> None:
        known = self._previous
        for obj in objects:
            if obj.checksum is not None:
                continue
            if known is not None and known.reusable:
                found = known.hash_of(self.bucket, obj)
                if found is not None:
                    obj.checksum = found
                    self.paths["previous"] += 1
                    continue
            if obj.size == 0:
                obj.checksum = checksums.empty_checksum(obj.hash_type)
                continue
            with self._cond:
                while self._pending >= WINDOW and not self._errors:
                    self._wait_for_progress()
                if self._errors:
                    raise self._first_error()
                self._pending += 1
                obj.checksum = _PENDING
            self._start(obj)

    def wait(self, objects: Iterable[SourceObject]) -> None:
        """Hash whatever of `objects` was not submitted yet, then wait for all; raise the first failure."""
        if self._known is not None:
            self._take_previous()
        self._submit(objects)
        with self._cond:
            while self._pending and not self._errors:
                self._wait_for_progress()
            if self._errors:
                raise self._first_error()

    def _wait_for_progress(self) -> None:
        """Wait (holding `_cond`) until an object or a part finishes; a stall is a transient failure,
        so a silent S3 ends the attempt well before a Lambda timeout, while listing or at the end."""
        before = self._progress  # a large object's copy or read is many parts: each is progress
        if not self._cond.wait(timeout=STALL_SECONDS) and self._progress == before:
            raise TransientError(
                f"hashing objects of s3://{self.bucket}: no S3 answer for {STALL_SECONDS} s "
                f"({self._pending} objects waiting); retry later"
            )

    def _first_error(self) -> BaseException:
        permanent = [e for e in self._errors if isinstance(e, PermanentError)]
        return permanent[0] if permanent else self._errors[0]  # a retry would not fix a permanent one

    def _done(self, obj: SourceObject, value: str | None = None, error: BaseException | None = None) -> None:
        with self._cond:
            if error is not None:
                self._errors.append(error)
            else:
                obj.checksum = value
            self._pending -= 1
            self._progress += 1
            self._cond.notify_all()

    def _count(self, path: str) -> None:
        with self._cond:
            self.paths[path] += 1

    def _tick(self) -> None:
        with self._cond:
            self._progress += 1

    def _later(self, obj: SourceObject, work: Callable[[SourceObject], str]) -> None:
        def task() -> None:
            try:
                self._done(obj, work(obj))
            except BaseException as exc:
                self._done(obj, error=exc)

        try:
            self._pool.submit(task)
        except RuntimeError as exc:  # the run was closed (it failed): nothing waits for this object
            self._done(obj, error=exc)

    # ---------------------------------------------------------------- one object

    def _start(self, obj: SourceObject) -> None:
        wanted = checksums.S3_ALGORITHM[obj.hash_type]
        if obj.algorithms is not None and wanted not in obj.algorithms:
            self._later(obj, self._without_reuse)  # the listing says S3 holds nothing we can reuse
            return
        try:
            started = self._head_async(obj)
        except Exception as exc:
            self._done(obj, error=failure(exc, "HeadObject", self._uri(obj)))
            return
        if not started:
            self._later(obj, self._boto3_head)

    def _head_async(self, obj: SourceObject) -> bool:
        """`Hasher.head_async`, with the lean client resolved once per run rather than per object."""
        if self._lean is None:
            self._lean = self.hasher._lean() or False
        if self._lean is False:
            return False
        self._lean.head_async(
            self.bucket,
            obj.key,
            lambda head, err: self._after_head(obj, head, err),
            version_id=obj.version_id,
            if_match=None if obj.version_id else obj.etag,
        )
        return True

    def _boto3_head(self, obj: SourceObject) -> str:
        try:
            head = self.s3.head_object(ChecksumMode="ENABLED", **obj.params(self.bucket))
        except Exception as exc:
            raise failure(exc, "HeadObject", self._uri(obj)) from exc
        found = self._from_head(obj, head)
        return found if isinstance(found, str) else found(obj)

    def _after_head(self, obj: SourceObject, head: Any, error: BaseException | None) -> None:
        """On a CRT thread: finish here when the HEAD holds the hash, else hand over to a worker."""
        try:
            if error is not None:
                raise failure(error, "HeadObject", self._uri(obj))
            found = self._from_head(obj, head)
        except BaseException as exc:
            self._done(obj, error=exc)
            return
        if isinstance(found, str):
            self._done(obj, found)
        else:
            self._later(obj, found)

    def _from_head(self, obj: SourceObject, head: dict[str, Any]) -> str | Callable[[SourceObject], str]:
        """The hash from a HeadObject response, or the work that finds it."""
        _check_size(head, obj, "HeadObject", self._uri(obj))
        if obj.hash_type == checksums.CRC64NVME:
            value = checksums.from_head_crc64nvme(head)
            if value is None:
                return self._without_reuse
            self._count("reused")
            return value
        reuse = checksums.from_head(head, obj.size)
        if isinstance(reuse, str):
            self._count("reused")
            return reuse
        if isinstance(reuse, checksums.NeedParts):
            composite = reuse.composite_digest
            return lambda o: self._from_parts(o, composite) or self._without_reuse(o)
        return self._without_reuse

    def _without_reuse(self, obj: SourceObject) -> str:
        """S3 holds nothing reusable: S3 computes it (large objects), else read the bytes."""
        if self.scratch_bucket and obj.size >= self.hasher.threshold:
            try:
                value = checksum_io.server_side(self.s3, self._parts, self.bucket, obj, self.scratch_bucket)
                self._count("server")
                return value
            except checksum_io.NoServerChecksum as exc:
                if not self._warned:
                    self._warned = True
                    logger.warning("S3 cannot compute checksums here (%s); reading the objects instead", exc)
        value = checksum_io.by_reading(self.s3, self._parts, self.bucket, obj)
        self._count("read")
        return value

    def _from_parts(self, obj: SourceObject, composite: str | None) -> str | None:
        """GetObjectAttributes: reuse a composite SHA-256 whose parts are exactly quilt3's chunks."""
        params = obj.params(self.bucket)
        uri = self._uri(obj)
        request = {k: v for k, v in params.items() if k != "IfMatch"}
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            try:
                attrs = self.s3.get_object_attributes(
                    **request,
                    ObjectAttributes=["ObjectParts", "Checksum", "ObjectSize", "ETag"],
                    MaxParts=1000,
                    PartNumberMarker=marker,
                )
            except Exception as exc:
                err = classify(exc, "GetObjectAttributes", uri)
                if isinstance(err, TransientError):
                    raise err from exc
                return None  # e.g. no s3:GetObjectAttributes permission: compute it another way
            if params.get("IfMatch") and attrs.get("ETag") and attrs["ETag"].strip('"') != params["IfMatch"].strip('"'):
                raise TransientError(f"GetObjectAttributes on {uri}: the object changed while it was being packaged")
            _check_size(attrs, obj, "GetObjectAttributes", uri)
            object_parts = attrs.get("ObjectParts") or {}
            parts.extend(object_parts.get("Parts") or ())
            if composite is None:
                value = (attrs.get("Checksum") or {}).get("ChecksumSHA256")
                if isinstance(value, str) and (attrs.get("Checksum") or {}).get("ChecksumType") != "FULL_OBJECT":
                    composite = value.partition("-")[0]
            if not object_parts.get("IsTruncated"):
                break
            marker = int(object_parts.get("NextPartNumberMarker") or 0)
            if not marker:
                break
        if not parts:
            return None
        found = checksums.from_parts(parts, obj.size, composite)
        if found is not None:
            self._count("reused")
        return found

    def _uri(self, obj: SourceObject) -> str:
        return f"s3://{self.bucket}/{obj.key}"


def _check_size(resp: dict[str, Any], obj: SourceObject, action: str, uri: str) -> None:
    size = resp.get("ContentLength", resp.get("ObjectSize"))
    if size is not None and int(size) != obj.size:
        raise TransientError(f"{action} on {uri}: the object changed while it was being packaged")


#: Hosts of AWS's own endpoints other than S3's standard regional ones (the lean client would not
#: reach them as boto3 does): FIPS, dual-stack, accelerate, VPC endpoints, other partitions.
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


def lean_endpoint(s3: Any, endpoint_url: str | None) -> tuple[bool, str | None]:
    """Whether the lean client (`s3head.py`) can stand in for the boto3 client `s3`, and the custom
    endpoint it must use (None: S3's standard regional endpoints). It speaks to a custom endpoint
    (AWS_ENDPOINT_URL, moto, MinIO) or to S3 in the aws partition; whatever else boto3 resolves for
    `s3` (FIPS, dual-stack, Transfer Acceleration, VPC endpoints, other partitions) stays on boto3."""
    meta = getattr(s3, "meta", None)
    config = getattr(meta, "config", None)
    if meta is None or config is None:
        return True, endpoint_url
    options = config.s3 or {}
    if (
        config.use_fips_endpoint
        or config.use_dualstack_endpoint
        or options.get("use_accelerate_endpoint")
        or options.get("use_dualstack_endpoint")
    ):
        return False, None
    url = endpoint_url or meta.endpoint_url
    if url in ("https://s3.amazonaws.com", f"https://s3.{meta.region_name}.amazonaws.com"):
        return True, None
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(_AWS_HOSTS):
        return False, None
    return True, url
