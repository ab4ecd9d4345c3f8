"""Code samples in the docs are the tested files themselves, not copies that drift.

A fenced block right after `<!-- include: PATH -->` must equal the file at PATH (relative to the
repository root). After changing such a file, refresh the docs with
`.venv/bin/python tests/test_docs.py --write`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
INCLUDE = re.compile(r"<!-- include: (?P<path>\S+) -->\n(?P<fence>```\w*\n)(?P<body>.*?)^```$", re.S | re.M)


def includes(text: str) -> list[re.Match[str]]:
    return list(INCLUDE.finditer(text))


def refreshed(text: str) -> str:
    return INCLUDE.sub(
        lambda m: f"<!-- include: {m['path']} -->\n{m['fence']}{(ROOT / m['path']).read_text()}```", text
    )


def test_included_code_samples_equal_their_files() -> None:
    stale = [
        f"{doc.relative_to(ROOT)}: {m['path']}"
        for doc in DOCS
        for m in includes(doc.read_text())
        if m["body"] != (ROOT / m["path"]).read_text()
    ]
    assert not stale, f"stale samples (run `.venv/bin/python tests/test_docs.py --write`): {stale}"


def test_the_adapter_guide_shows_the_tested_example() -> None:
    shown = {m["path"] for m in includes((ROOT / "docs" / "plugins.md").read_text())}
    assert shown == {
        "examples/qps-adapter-lims/qps_adapter_lims/__init__.py",
        "examples/qps-adapter-lims/pyproject.toml",
        "examples/qps-adapter-lims/tests/test_lims.py",
    }


def test_a_drifted_sample_is_noticed() -> None:
    path = "examples/qps-adapter-lims/pyproject.toml"
    drifted = f"<!-- include: {path} -->\n```toml\n[project]\nname = 'old'\n```\n"
    [match] = includes(drifted)
    assert match["body"] != (ROOT / path).read_text()
    assert includes(refreshed(drifted))[0]["body"] == (ROOT / path).read_text()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    for doc in DOCS:
        doc.write_text(refreshed(doc.read_text()))
