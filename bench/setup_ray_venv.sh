#!/usr/bin/env bash
# The venv bench/peer_ray_tune.py runs in (bench/setup_peer_venv.sh); its python is the last line:
#   PY=$(bash bench/setup_ray_venv.sh | tail -n1)
# 2.60.0 is the newest ray[tune] that installs and runs on Python 3.11 here.
exec bash "$(dirname "$0")/setup_peer_venv.sh" ray "ray[tune]==2.60.0" ray 2.60.0
