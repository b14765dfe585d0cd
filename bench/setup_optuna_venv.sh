#!/usr/bin/env bash
# Builds (once) the virtual environment that bench/peer_optuna_tpe.py runs in, so the Optuna peer
# numbers always come from the same pinned Optuna. Idempotent: a venv that already imports the
# pinned version is reused as is. The venv's python path is the LAST line of stdout, for callers:
#   PY=$(bash bench/setup_optuna_venv.sh | tail -n1)
set -euo pipefail

OPTUNA_VERSION="5.0.0"

PYTHON="${PYTHON:-python3}"
VENV="${ORCHARD_CACHE:-$HOME/.cache/orchard}/venv-optuna-${OPTUNA_VERSION}"
VPY="$VENV/bin/python"

# Check the version by importing, not by the directory's existence: an interrupted install leaves a
# venv behind that has no (or a broken) optuna in it.
if [ -x "$VPY" ] && "$VPY" -c "import optuna, sys; sys.exit(optuna.__version__ != '$OPTUNA_VERSION')" 2>/dev/null; then
    echo "optuna==$OPTUNA_VERSION already installed in $VENV"
else
    echo "creating venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    echo "installing optuna==$OPTUNA_VERSION into $VENV"
    # pip's progress goes to stderr so that stdout stays a short log ending with the python path.
    "$VPY" -m pip install --quiet --disable-pip-version-check "optuna==$OPTUNA_VERSION" >&2
    "$VPY" -c "import optuna; print('installed optuna', optuna.__version__)"
fi

echo "$VPY"
