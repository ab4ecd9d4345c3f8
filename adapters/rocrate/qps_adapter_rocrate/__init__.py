"""RO-Crate: a new sentinel file (ro-crate-metadata.json) makes a package of its folder; at packaging time
the crate decides which files (its parts), not the adapter (README, "RO-Crate packages")."""

from __future__ import annotations

from qps_core.adapter_api import (
    Event,
    IgnoredEvent,
    PackageRequest,
    Settings,
    basename,
    folder_of_key,
    folder_uri,
    hookimpl,
    request_for_folder,
    shown,
)

#: How the admin page and ignore reasons name this source, and what switching it on does.
LABEL = "RO-Crate"
SWITCH_DESCRIPTION = "Create a package from a folder when an RO-Crate metadata file is written"


@hookimpl
def qps_describe_event(event: Event, settings: Settings) -> list[PackageRequest] | None:
    obj = event.s3_object
    if obj is None or basename(obj.key) not in settings.sentinel_names:
        return None
    if not obj.created:
        raise IgnoredEvent(f"{shown(obj.event_name)} of an RO-Crate sentinel is not an object creation")
    folder = folder_of_key(obj.key)
    return [request_for_folder(settings, folder_uri(obj.bucket, folder), field="s3.object.key")]
