#!/usr/bin/env bash
# The one pod entry (vastai.sh, runpod.sh and the Docker image all end here): workspace on the
# persistent volume, set-up (idempotent, so a restarted pod is up in seconds), a password, then
# the dashboard on 0.0.0.0 under a restart loop. A UI crash restarts the UI only: training runs are
# detached processes of their own and never notice.
#
#   NYX_WORKSPACE      workspace (default /workspace, the pods' persistent volume)
#   NYX_PORT           port the platform proxies (default 8501)
#   NYX_ADDRESS        bind address (default 0.0.0.0; a password is always required beyond localhost)
#   NYX_PASSWORD       the dashboard password; when unset and none is stored, one is generated,
#                      printed once here and stored in the workspace settings
#   NYX_SETUP=skip     do not run setup.sh (an image that was set up at build time)
#   NYX_SETUP_FLAGS    flags for setup.sh, e.g. "--xformers --lycoris"
#   NYX_RESTART_DELAY  seconds before restarting a UI that exited (default 2; doubles while it
#                      keeps dying within a minute, up to 60)
set -uo pipefail
export NYX_WORKSPACE="${NYX_WORKSPACE:-/workspace}"
# shellcheck source=provisioning/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$NYX_REPO" || exit 1
PORT="${NYX_PORT:-8501}"
ADDRESS="${NYX_ADDRESS:-0.0.0.0}"
# Model downloads land on the persistent volume too, not in the container's disposable layer.
export HF_HOME="${HF_HOME:-$NYX_WORKSPACE/.cache/huggingface}"
mkdir -p "$NYX_LOGS" || { echo "pod_start: cannot create $NYX_LOGS" >&2; exit 1; }
UI_LOG="$NYX_LOGS/ui.log"

if [ "${NYX_SETUP:-}" != skip ]; then
  # shellcheck disable=SC2086  # NYX_SETUP_FLAGS is a list of flags
  bash provisioning/setup.sh ${NYX_SETUP_FLAGS:-} || echo "pod_start: set-up reported failures (above); starting the UI anyway"
fi
PY="$(nyx_python)"

# The password: printed here once when generated (the platform's container log), never written
# to a log file in the workspace.
ensure_password || exit 1

child=""
stopping=0
on_signal() {
  stopping=1
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap on_signal TERM INT HUP

# serve.py, where present, is the app with the HTTP gate in front from the very first request
# (docs/security.md); app.py otherwise.
APP=app.py
if [ -f serve.py ]; then APP=serve.py; fi

delay="${NYX_RESTART_DELAY:-2}"
echo "pod_start: dashboard on http://$ADDRESS:$PORT (log: $UI_LOG)"
while :; do
  echo "== $(date -u +%FT%TZ) starting the UI on $ADDRESS:$PORT" >>"$UI_LOG"
  started=$(date +%s)
  "$PY" -m streamlit run "$APP" --server.address "$ADDRESS" --server.port "$PORT" --server.headless true \
    >>"$UI_LOG" 2>&1 &
  child=$!
  echo "$child" >"$NYX_LOGS/ui.pid"
  wait "$child"
  rc=$?
  # a trapped signal interrupts `wait`; wait again so the UI has really gone before we exit
  if [ "$stopping" = 1 ]; then wait "$child" 2>/dev/null; rm -f "$NYX_LOGS/ui.pid"; exit 0; fi
  if [ $(( $(date +%s) - started )) -ge 60 ]; then delay="${NYX_RESTART_DELAY:-2}"; fi
  echo "== $(date -u +%FT%TZ) the UI exited ($rc); restarting in ${delay}s" | tee -a "$UI_LOG"
  sleep "$delay" & wait $!
  if [ "$stopping" = 1 ]; then exit 0; fi
  delay=$(( delay * 2 > 60 ? 60 : delay * 2 ))
done
