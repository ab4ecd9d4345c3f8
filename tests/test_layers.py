"""Which way each layer of qps_core may import (docs/design.md §1), checked on the real import graph
(lazy imports included, `if TYPE_CHECKING:` imports left out, as in tests/test_import_graph.py):

    entry points → runtime / api / admin → jobs → runner → packaging / plugins → models / events / settings → helpers

A module may import its own layer and the layers below it, never one above: the packager never
reaches for the job store, the job store never for the web framework, the request model never for
the runner. Adapters (adapters/*) import only `qps_core.adapter_api` (tests/test_hook_contract.py).
"""

from __future__ import annotations

from tests.test_import_graph import import_graph

# Lowest first. A module belongs to the layer of the longest prefix listed for it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("helpers", ("qps_core", "qps_core.errors", "qps_core.jsonstrict", "qps_core.s3paths", "qps_core.aws")),
    (
        "models/events/settings",
        (
            "qps_core.models",
            "qps_core.events",
            "qps_core.envelopes",
            "qps_core.event_files",
            "qps_core.outcomes",
            "qps_core.hookspecs",
            "qps_core.allow_lists",
            "qps_core.adapter_api",
            "qps_core.settings",
        ),
    ),
    ("packaging/plugins", ("qps_core.packaging", "qps_core.plugins", "qps_core.builtin", "qps_core.notices")),
    ("runner", ("qps_core.runner", "qps_core.reconcile")),
    ("jobs", ("qps_core.jobs",)),
    ("runtime/api/admin", ("qps_core.runtime", "qps_core.api", "qps_core.admin")),
    (
        "entry points",
        (
            "qps_core.cli",
            "qps_core.cli_serve",
            "qps_core.report",
            "qps_core.lambda_handler",
            "qps_core.reconcile_lambda",
            "qps_core.api.lambda_api",
            "qps_core.demo",
            "qps_core.testing",
        ),
    ),
]


def layer_of(module: str) -> int:
    best, found = -1, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), rank
    if found < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return found


def arrows_against_the_layers(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                wrong.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    return wrong


def test_every_import_points_down_the_layers() -> None:
    wrong = arrows_against_the_layers(import_graph())
    assert not wrong, "\n".join(wrong)


def test_every_module_has_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def test_the_check_fails_on_an_arrow_against_the_layers() -> None:
    graph = import_graph()
    assert arrows_against_the_layers({"qps_core.models": {"qps_core.runner"}}) == [
        "qps_core.models (models/events/settings) imports qps_core.runner (runner)"
    ]
    assert arrows_against_the_layers({"qps_core.packaging.registry": {"qps_core.jobs.store"}})
    assert not arrows_against_the_layers({"qps_core.api.app": {"qps_core.jobs.intake", "qps_core.runner"}})
    # the API's Lambda entry point sits above the API it serves
    assert layer_of("qps_core.api.lambda_api") > layer_of("qps_core.api.app")
    assert "qps_core.runtime.compose" in graph["qps_core.api.lambda_api"]


def test_the_packaging_surface_is_what_the_rest_reaches() -> None:
    """Outside qps_core.packaging, only its package (the lazy surface in its __init__) is imported."""
    graph = import_graph()
    inside = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not module.startswith("qps_core.packaging")
        for target in targets
        if target.startswith("qps_core.packaging.")
    ]
    assert not inside, "\n".join(inside)
