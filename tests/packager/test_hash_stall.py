"""Hashing gives up on a stalled S3 (a transient failure, never a Lambda timeout), but a large object
whose parts keep finishing is progress, however long the whole object takes."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest

from qps_core.errors import TransientError
from qps_core.packaging import checksums, hashing
from qps_core.packaging.listing import SourceObject

CHUNK = 8 * 1024 * 1024


class SlowS3:
    """HeadObject answers with no reusable checksum; each ranged GetObject takes `delay` seconds
    (`None`: never answers, as a stalled connection)."""

    def __init__(self, delay: float | None) -> None:
        self.delay = delay
        self.ranges = 0
        self._stop = threading.Event()

    def head_object(self, **params: Any) -> dict[str, Any]:
        return {"ContentLength": 5 * CHUNK, "ETag": '"e"'}

    def get_object(self, Range: str, **params: Any) -> dict[str, Any]:
        if self.delay is None:
            self._stop.wait(30)
            raise ConnectionError("stalled")
        time.sleep(self.delay)
        self.ranges += 1
        start, end = (int(n) for n in Range.removeprefix("bytes=").split("-"))
        return {"Body": io.BytesIO(b"\0" * (end - start + 1))}

    def release(self) -> None:
        self._stop.set()


def large_object() -> SourceObject:
    return SourceObject("run/big.bam", "big.bam", 5 * CHUNK, "v1", None, None)


def hash_one(s3: SlowS3) -> SourceObject:
    hasher = hashing.Hasher(s3, max_workers=1)  # one part at a time: the object takes 5 x delay
    hasher.lean_heads = False
    hasher.threshold = 10 * 5 * CHUNK  # read, not copied server-side
    obj = large_object()
    hasher.hash_all("data", [obj])
    return obj


def test_a_large_object_whose_parts_keep_finishing_is_not_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "STALL_SECONDS", 0.5)
    s3 = SlowS3(delay=0.3)  # 5 parts: 1.5 s for the object, 3x the stall limit; a part every 0.3 s
    obj = hash_one(s3)
    assert s3.ranges == 5
    parts = [checksums.part_digest(b"\0" * CHUNK) for _ in range(5)]
    assert obj.checksum == checksums.combine(parts, checksums.HASH_TYPE)


def test_no_answer_at_all_is_a_transient_failure_after_the_stall_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "STALL_SECONDS", 0.5)
    s3 = SlowS3(delay=None)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError, match=r"no S3 answer for 0.5 s \(1 objects waiting\); retry later"):
            hash_one(s3)
    finally:
        s3.release()
    assert time.monotonic() - started < 10


def test_a_silent_s3_while_the_window_is_full_is_a_transient_failure_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing feeds hashing page by page and waits when WINDOW objects are in flight: that wait
    gives up on a silent S3 as well, instead of hanging until the Lambda times out."""
    monkeypatch.setattr(hashing, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(hashing, "WINDOW", 1)
    s3 = SlowS3(delay=None)
    hasher = hashing.Hasher(s3, max_workers=1)
    hasher.lean_heads = False
    hasher.threshold = 10 * 5 * CHUNK
    outcome: list[BaseException] = []

    def feed() -> None:
        with hasher.run("data", None) as run:
            try:
                run.submit([large_object(), large_object()])  # the second waits for the first's slot
            except BaseException as exc:
                outcome.append(exc)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    feeder.join(10)
    s3.release()
    assert not feeder.is_alive(), "submit hung on a silent S3"
    assert len(outcome) == 1 and isinstance(outcome[0], TransientError) and "no S3 answer" in str(outcome[0])
