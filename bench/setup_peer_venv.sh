#!/usr/bin/env bash
# Builds (once) a virtual environment holding one pinned peer framework, so a benchmark's peer
# figures always come from the same version. Idempotent: a venv that already imports the pinned
# version is reused as is. The venv's python path is the LAST line of stdout, for callers to capture.
#   bash bench/setup_peer_venv.sh NAME PIP_REQUIREMENT MODULE VERSION
#   e.g. bash bench/setup_peer_venv.sh optuna "optuna==5.0.0" optuna 5.0.0
set -euo pipefail

NAME="$1"; REQUIREMENT="$2"; MODULE="$3"; VERSION="$4"
PYTHON="${PYTHON:-python3}"
VENV="${ORCHARD_CACHE:-$HOME/.cache/orchard}/venv-${NAME}-${VERSION}"
VPY="$VENV/bin/python"

# Check the version by importing, not by the directory's existence: an interrupted install leaves a
# venv behind that has no (or a broken) package in it.
if [ -x "$VPY" ] && "$VPY" -c "import $MODULE, sys; sys.exit($MODULE.__version__ != '$VERSION')" 2>/dev/null; then
    echo "$REQUIREMENT already installed in $VENV"
else
    echo "creating venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    echo "installing $REQUIREMENT into $VENV"
    # pip's progress goes to stderr so that stdout stays a short log ending with the python path.
    "$VPY" -m pip install --quiet --disable-pip-version-check "$REQUIREMENT" >&2
    "$VPY" -c "import $MODULE; print('installed $NAME', $MODULE.__version__)"
fi

echo "$VPY"
