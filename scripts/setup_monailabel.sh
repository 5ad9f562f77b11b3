#!/usr/bin/env bash
# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
#
# Create (or reuse) the separate MONAI Label environment and the system programs of the PACS tests.
# Idempotent: a second run only checks a stamp. Kept apart from .venv because monailabel 0.8.5 installed
# normally replaces torch with a CUDA build + torchvision and needs pydicom 2 (see monailabel-constraints.txt).
#   - venv: ${MONAI_DIANET_MONAILABEL_VENV:-<repo>/.venv-monailabel} with torch==2.13.0 (CPU) first, monailabel
#     0.8.5 without its dependencies, then the dependencies it needs (monailabel-requirements.txt) and
#     monai-dianet itself (editable), all under monailabel-constraints.txt.
#   - Debian packages orthanc, orthanc-dicomweb, chromium, chromium-driver (apt-get, when missing and root).
# Prints the venv's python path as its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MONAI_DIANET_MONAILABEL_VENV:-$root/.venv-monailabel}"
python="${PYTHON:-python3}"
constraints="$root/scripts/monailabel-constraints.txt"
requirements="$root/scripts/monailabel-requirements.txt"

need=()
[ -x /usr/sbin/Orthanc ] || need+=(orthanc)
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "[setup_monailabel] missing Debian packages: ${need[*]}; install them as root:" \
            "apt-get install -y --no-install-recommends ${need[*]}" >&2
        exit 1
    fi
    echo "[setup_monailabel] apt-get install ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

stamp="$venv/.monai_dianet_monailabel_installed"
if [ -f "$stamp" ] && [ "$stamp" -nt "$constraints" ] && [ "$stamp" -nt "$requirements" ] \
    && [ "$stamp" -nt "$root/setup.cfg" ] && "$venv/bin/python" -c "import monailabel, monai_dianet" 2>/dev/null; then
    echo "[setup_monailabel] environment up to date: $venv" >&2
    echo "$venv/bin/python"
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "[setup_monailabel] creating virtual environment $venv" >&2
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
echo "[setup_monailabel] installing torch==2.13.0, monailabel 0.8.5 and monai-dianet into $venv" >&2
# grep drops pip's notices about the machine's unused local index folders (pip.conf find-links)
{
    "${pip[@]}" install -c "$constraints" torch
    "${pip[@]}" install -c "$constraints" --no-deps monailabel
    "${pip[@]}" install -c "$constraints" -r "$requirements" -e "$root[dicom]"
} 2>&1 | { grep -v "^WARNING: Location 'file://" || true; } >&2
"$venv/bin/python" -c "import torch, monailabel, monai_dianet, highdicom, pydicom; assert torch.__version__.startswith('2.13.0'), torch.__version__" >&2
touch "$stamp"
echo "[setup_monailabel] done" >&2
echo "$venv/bin/python"
