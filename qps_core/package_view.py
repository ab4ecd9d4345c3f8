"""Read a package revision back from its registry (for `qps show`)."""

from __future__ import annotations

import os
from typing import Any

from .errors import PermanentError, one_line
from .models import normalise_registry
from .s3paths import check_package_name


def describe_package(
    registry: str, name: str, *, top_hash: str | None = None, endpoint_url: str | None = None
) -> dict[str, Any]:
    bucket = normalise_registry(registry)
    check_package_name(name, "package name")
    from .local_endpoint import credentials_for

    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    credentials_for(os.environ.get("AWS_ENDPOINT_URL"))
    os.environ.setdefault("QUILT_DISABLE_USAGE_METRICS", "true")
    os.environ.setdefault("QUILT_MINIMIZE_STDOUT", "true")
    import quilt3

    try:
        pkg = quilt3.Package.browse(name, registry=f"s3://{bucket}", top_hash=top_hash)
    except Exception as exc:
        raise PermanentError(f"cannot read package {name} from s3://{bucket}: {one_line(exc)}") from None
    entries = [
        {
            "logical_key": lk,
            "size": entry.size,
            "hash": (entry.hash or {}).get("value", ""),
            "physical_key": str(entry.physical_key),
        }
        for lk, entry in pkg.walk()
    ]
    return {
        "registry": f"s3://{bucket}",
        "package_name": name,
        "top_hash": pkg.top_hash,
        "message": pkg._meta.get("message"),
        "metadata": pkg.meta,
        "entries": entries,
    }
