#!/usr/bin/env bash
# The venv bench/peer_optuna_tpe.py runs in (bench/setup_peer_venv.sh); its python is the last line:
#   PY=$(bash bench/setup_optuna_venv.sh | tail -n1)
exec bash "$(dirname "$0")/setup_peer_venv.sh" optuna "optuna==5.0.0" optuna 5.0.0
