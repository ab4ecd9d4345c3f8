"""One delivery in its own interpreter, for the concurrency tests.

Run as `python -m tests.faults.workers URL` from the repository root, the request body on the first
line of stdin. It prints `ready` once quilt3 and boto3 are loaded, waits for `go` on stdin (so every
process starts its delivery at the same moment), then prints the delivery as one JSON line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict


def main(url: str) -> None:
    from qps_core.packaging.packager import Packager
    from qps_core.settings import Settings
    from tests.faults.scenario import Delivery, deliver

    body = json.loads(sys.stdin.readline())
    packager = Packager(Settings(), endpoint_url=url)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    try:
        out = deliver(packager, body)
    except BaseException as exc:  # reported to the test, never lost
        out = Delivery(statuses=["crashed"], errors=[repr(exc)])
    print(json.dumps(asdict(out)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
