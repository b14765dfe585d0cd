#!/usr/bin/env bash
# Builds (once) the virtual environment that bench/peer_ray_tune.py runs in, so the Ray Tune peer
# numbers always come from the same pinned Ray. Idempotent: a venv that already imports the pinned
# version is reused as is. The venv's python path is the LAST line of stdout, for callers to capture:
#   PY=$(bash bench/setup_ray_venv.sh | tail -n1)
set -euo pipefail

RAY_VERSION="2.60.0"  # newest ray[tune] that installs and runs on Python 3.11 here

PYTHON="${PYTHON:-python3}"
VENV="${ORCHARD_CACHE:-$HOME/.cache/orchard}/venv-ray-${RAY_VERSION}"
VPY="$VENV/bin/python"

# Check the version by importing, not by the directory's existence: an interrupted install leaves a
# venv behind that has no (or a broken) ray in it.
if [ -x "$VPY" ] && "$VPY" -c "import ray, ray.tune, sys; sys.exit(ray.__version__ != '$RAY_VERSION')" 2>/dev/null; then
    echo "ray[tune]==$RAY_VERSION already installed in $VENV"
else
    echo "creating venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    echo "installing ray[tune]==$RAY_VERSION into $VENV"
    # pip's progress goes to stderr so that stdout stays a short log ending with the python path.
    "$VPY" -m pip install --quiet --disable-pip-version-check "ray[tune]==$RAY_VERSION" >&2
    "$VPY" -c "import ray, ray.tune; print('installed ray', ray.__version__)"
fi

echo "$VPY"
