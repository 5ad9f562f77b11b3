#!/usr/bin/env bash
# Set up the environment (idempotent) and run the whole test suite, slow end-to-end tests included.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
venv="${MONAI_DIANET_VENV:-$root/.venv}"
cd "$root"
export MPLBACKEND=Agg
exec "$venv/bin/python" -m pytest tests -ra --durations=20 --timeout=900 "$@"
