"""Full garbage collections wait while packaging runs, and come back after the last one (gcpause)."""

from __future__ import annotations

import gc
import threading

from qps_core.packaging.gcpause import no_full_collections


def test_full_collections_pause_while_packaging_and_resume_after_the_last() -> None:
    before = gc.get_threshold()
    with no_full_collections():
        paused = gc.get_threshold()
        assert paused[:2] == before[:2] and paused[2] > 10**6
        with no_full_collections():  # another packaging in the same process
            pass
        assert gc.get_threshold() == paused  # the inner one ending does not resume them
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_after_a_failure_and_across_threads() -> None:
    before = gc.get_threshold()
    try:
        with no_full_collections():
            raise ValueError("a failed packaging")
    except ValueError:
        pass
    assert gc.get_threshold() == before
    entered = threading.Event()
    release = threading.Event()

    def other() -> None:
        with no_full_collections():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    entered.wait(10)
    with no_full_collections():
        pass
    assert gc.get_threshold()[2] > 10**6  # still paused: the other thread's packaging runs on
    release.set()
    thread.join(10)
    assert gc.get_threshold() == before
