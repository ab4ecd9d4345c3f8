#!/usr/bin/env bash
# Build the QPS Lambda deployment bundle: dist/qps-lambda.zip (or the path given as $1).
#
# Everything is installed with `pip install --target`, never in editable mode, so each
# distribution's *.dist-info (and so its entry_points.txt) is in the bundle: that is how the
# runtime discovers the adapters (entry point group `qps.adapters`).
#
# Dependencies are resolved for the Lambda platform (python3.11, x86_64, manylinux2014 wheels
# only), whatever machine builds the bundle. When the building Python has qps-core installed
# (the dev venv that `make install` sets up), its versions pin the bundle's dependencies, so the
# Lambda runs the boto3/botocore/quilt3/pydantic that the tests ran; set QPS_LAMBDA_PIN=0 to take
# the newest versions allowed by the pyproject files instead.
#
# Environment: PYTHON (default: .venv/bin/python, else python3), QPS_LAMBDA_PIN (default 1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/dist/qps-lambda.zip}"
ADAPTERS=(omics rocrate uri edp)
LAMBDA_PYTHON_VERSION=3.11
LAMBDA_PLATFORM=manylinux2014_x86_64
LAMBDA_UNZIPPED_LIMIT=262144000 # 250 MB, Lambda's limit for the unzipped function and its layers

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qps-lambda.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/src" WHEELS="$WORK/wheels" PKG="$WORK/package"
mkdir -p "$SRC" "$WHEELS" "$PKG" "$(dirname "$OUT")"

# 1. Wheels of the local distributions, built from a clean copy of the tree (an in-tree build
#    would reuse setuptools' build/ directory, where files deleted from the sources survive).
tar -C "$ROOT" \
    --exclude=./.git --exclude=./.venv --exclude=./dist --exclude=./build \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
    --exclude=.pytest_cache -cf - . | tar -C "$SRC" -xf -
LOCAL=("$SRC")
for a in "${ADAPTERS[@]}"; do LOCAL+=("$SRC/adapters/$a"); done
# One build backend for all five (pip's per-package isolated build environments cost ~10 s each).
"$PYTHON" -m pip install --quiet --target "$WORK/backend" 'setuptools>=70.1'
if ! PYTHONPATH="$WORK/backend${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m pip wheel --quiet --no-deps \
        --no-build-isolation --wheel-dir "$WHEELS" "${LOCAL[@]}" >"$WORK/wheel.log" 2>&1; then
    cat "$WORK/wheel.log" >&2
    echo "error: building the qps wheels failed" >&2
    exit 1
fi

# 2. Pins: the versions installed beside qps-core in the building environment.
CONSTRAINTS=()
if [[ "${QPS_LAMBDA_PIN:-1}" != 0 ]] && "$PYTHON" -c 'import qps_core' 2>/dev/null; then
    "$PYTHON" - "$WORK/constraints.txt" <<'PY'
import sys
from importlib.metadata import distributions

lines = sorted(
    f"{d.metadata['Name']}=={d.version}"
    for d in distributions()
    if d.metadata["Name"] and not d.metadata["Name"].lower().startswith("qps-")
)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
    CONSTRAINTS=(--constraint "$WORK/constraints.txt")
fi

# 3. Install the wheels and their dependencies for the Lambda platform.
"$PYTHON" -m pip install --quiet --no-compile --target "$PKG" \
    --platform "$LAMBDA_PLATFORM" --implementation cp --python-version "$LAMBDA_PYTHON_VERSION" \
    --only-binary=:all: "${CONSTRAINTS[@]}" "$WHEELS"/*.whl

# 4. Drop what the Lambda never runs: stray byte code, console scripts, test suites shipped inside
#    packages. *.dist-info stays: it carries the entry points.
rm -rf "$PKG/bin"
find "$PKG" -depth -type d \( -name __pycache__ -o -name tests -o -name test \) \
    -not -path '*.dist-info*' -exec rm -rf {} +
find "$PKG" -type f \( -name '*.pyc' -o -name '*.pyo' \) -delete
# pip's direct_url.json names the wheel's temporary path: informational only (PEP 610), and it
# would make every build differ. Drop it and its RECORD line.
for record in "$PKG"/*.dist-info/RECORD; do
    dist="$(dirname "$record")"
    if [[ -f "$dist/direct_url.json" ]]; then
        rm "$dist/direct_url.json"
        grep -v '/direct_url.json,' "$record" >"$record.tmp" && mv "$record.tmp" "$record"
    fi
done

# 4b. Byte code for Lambda's Python. /var/task is read-only, so without it every cold start compiles
#     every module it imports (boto3, botocore, quilt3, pydantic: about 2.5x the import time, see
#     bench/cold_start.py --bundle). "unchecked-hash" pycs (PEP 552) are used without comparing source
#     mtimes, which the zip's fixed timestamps would otherwise fail. Only a CPython of Lambda's
#     version can write byte code Lambda reads; any other builder says so and ships source only.
if "$PYTHON" -c "import sys; sys.exit(sys.implementation.name != 'cpython' or '%d.%d' % sys.version_info[:2] != '$LAMBDA_PYTHON_VERSION')"; then
    # -s/-p: record the paths the files have in Lambda (/var/task), not this build's temporary
    # directory, so tracebacks are right and the zip stays reproducible.
    "$PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$PKG" -p /var/task "$PKG" \
        >"$WORK/compile.log" 2>&1 || {
        cat "$WORK/compile.log" >&2
        echo "error: compiling the bundle's byte code failed" >&2
        exit 1
    }
else
    echo "warning: $("$PYTHON" -V 2>&1) is not Lambda's CPython $LAMBDA_PYTHON_VERSION: the bundle carries no byte code (slower cold starts)" >&2
fi

# 5. Zip it reproducibly (sorted entries, fixed timestamps) and report the size.
"$PYTHON" - "$PKG" "$OUT" "$LAMBDA_UNZIPPED_LIMIT" <<'PY'
import os
import sys
import zipfile

root, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(
    os.path.relpath(os.path.join(d, f), root) for d, _, names in os.walk(root) for f in names
)
unzipped = 0
tmp = out + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
    for rel in files:
        path = os.path.join(root, rel)
        info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
        with open(path, "rb") as fh:
            data = fh.read()
        unzipped += len(data)
        zf.writestr(info, data)
os.replace(tmp, out)
zipped = os.path.getsize(out)
mb = 1024 * 1024
print(f"{out}: {zipped / mb:.1f} MiB zipped, {unzipped / mb:.1f} MiB unzipped "
      f"({len(files)} files; Lambda allows {limit / mb:.0f} MiB unzipped)")
if unzipped > limit:
    sys.exit(f"error: the unzipped bundle exceeds Lambda's {limit / mb:.0f} MiB limit")
PY
