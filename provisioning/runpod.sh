#!/usr/bin/env bash
# RunPod entry (template "Container Start Command"; see docs/deploy.md). RunPod proxies HTTP ports
# listed under "Expose HTTP Ports" at https://<pod id>-<port>.proxy.runpod.net.
export NYX_PORT="${NYX_PORT:-8501}"
export NYX_WORKSPACE="${NYX_WORKSPACE:-/workspace}"
if [ -n "${RUNPOD_POD_ID:-}" ]; then
  echo "runpod: open https://${RUNPOD_POD_ID}-${NYX_PORT}.proxy.runpod.net (expose HTTP port $NYX_PORT in the template)"
fi
exec bash "$(dirname "$0")/pod_start.sh"
