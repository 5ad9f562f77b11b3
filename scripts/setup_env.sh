#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install monai-dianet with every extra.
# Idempotent: a second run only re-checks the installs. torch==2.13.0 goes first so that no
# later requirement pulls a CUDA build of torch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MONAI_DIANET_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "[setup_env] creating virtual environment $venv"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
stamp="$venv/.monai_dianet_installed"
if [ -f "$stamp" ] && [ "$stamp" -nt "$root/setup.cfg" ] && "$venv/bin/python" -c "import monai_dianet" 2>/dev/null; then
    echo "[setup_env] environment up to date: $venv"
    exit 0
fi
echo "[setup_env] installing torch==2.13.0 (CPU wheel) and monai-dianet[all,dev] into $venv"
# grep drops pip's notices about the machine's unused local index folders (pip.conf find-links)
{ "${pip[@]}" install "torch==2.13.0" && "${pip[@]}" install -e "$root[all,dev]"; } 2>&1 \
    | { grep -v "^WARNING: Location 'file://" || true; }
"$venv/bin/python" -m pip check
touch "$stamp"
echo "[setup_env] done"
