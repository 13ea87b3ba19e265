#!/usr/bin/env bash
# Puts kohya-ss/sd-scripts (the pinned submodule) in its own venv, so its pinned dependencies never
# mix with Nyx's. Run once per machine; Nyx then finds it via settings (sd_scripts_dir / _python).
#   TORCH_SPEC   torch to install first (default: torch==2.13.0; on a CUDA pod e.g. torch==2.13.0 --index-url …cu128)
#   EXTRA_PIP    extra packages, e.g. "lycoris-lora==3.4.0" (4.1.3 breaks SD1.5 LoCon)
set -euo pipefail
cd "$(dirname "$0")/.."
SD_DIR="${NYX_SD_SCRIPTS:-$PWD/sd-scripts}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRA_PIP="${EXTRA_PIP:-lycoris-lora==3.4.0}"

if [ ! -f "$SD_DIR/train_network.py" ]; then
  git submodule update --init --depth 1 sd-scripts || git submodule update --init sd-scripts
fi
"$PYTHON" -m venv "$SD_DIR/venv"
VPY="$SD_DIR/venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$VPY" -m pip install -q $TORCH_SPEC
(cd "$SD_DIR" && "$VPY" -m pip install -q -r requirements.txt)
# shellcheck disable=SC2086
[ -n "$EXTRA_PIP" ] && "$VPY" -m pip install -q $EXTRA_PIP
echo "sd-scripts ready: $SD_DIR (python: $VPY)"
