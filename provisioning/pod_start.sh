#!/usr/bin/env bash
# Start script for a rented GPU pod (VastAI / RunPod): workspace on the persistent volume,
# sd-scripts in its own venv, and the dashboard on 0.0.0.0 — always behind a password.
set -euo pipefail
cd "$(dirname "$0")/.."
export NYX_WORKSPACE="${NYX_WORKSPACE:-/workspace}"
PORT="${NYX_PORT:-8501}"
if [ -z "${NYX_PASSWORD:-}" ]; then
  NYX_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')"
  export NYX_PASSWORD
  echo "No NYX_PASSWORD given; generated one for this start: $NYX_PASSWORD"
fi
python3 -m pip install -q -r requirements.txt
[ -x sd-scripts/venv/bin/python ] || TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}" bash provisioning/setup_sd_scripts.sh
exec python3 -m streamlit run app.py --server.address 0.0.0.0 --server.port "$PORT"
