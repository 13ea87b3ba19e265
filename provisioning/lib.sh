# shellcheck shell=bash
# Shared by setup.sh and the pod entry points (pod_start.sh, vastai.sh, runpod.sh, the Docker image).
# Sourced, never run: it only defines functions and the repository/workspace paths.

NYX_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NYX_REPO
: "${NYX_WORKSPACE:=$NYX_REPO/workspace}"
export NYX_WORKSPACE
export NYX_LOGS="$NYX_WORKSPACE/logs"

# The interpreter that runs Nyx itself: NYX_PYTHON (e.g. an image's python that already has
# requirements.txt), else the repository's .venv once set-up has made it, else python3.
nyx_python() {
  if [ -n "${NYX_PYTHON:-}" ]; then
    printf '%s\n' "$NYX_PYTHON"
  elif [ -x "${NYX_VENV:-$NYX_REPO/.venv}/bin/python" ]; then
    printf '%s\n' "${NYX_VENV:-$NYX_REPO/.venv}/bin/python"
  else
    command -v python3 || command -v python
  fi
}

# The sd-scripts pin: the submodule's gitlink when this is a git checkout, else the recorded pin
# (a Docker build context or a tarball has no .git).
pinned_sd_scripts() {
  local line
  line="$(git -C "$NYX_REPO" ls-tree HEAD sd-scripts 2>/dev/null)"
  if [ -n "$line" ]; then
    printf '%s\n' "$line" | awk '{print $3}'
  else
    tr -d '[:space:]' < "$NYX_REPO/provisioning/sd-scripts.pin"
    echo
  fi
}

# CUDA version the driver supports ("12.8"), from nvidia-smi's header; empty when there is no
# working driver. That, not the toolkit, decides which torch CUDA build can run.
driver_cuda_version() {
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1
}

# The PyTorch wheel index for a driver CUDA version: the newest build the driver can run.
# Prints nothing when the driver is too old for the builds torch 2.13 is published for.
torch_index_for_cuda() {
  local cuda="$1" major minor
  major="${cuda%%.*}"
  minor="${cuda#*.}"
  local n=$((major * 10 + minor))
  if [ "$n" -ge 130 ]; then
    echo cu130
  elif [ "$n" -ge 128 ]; then
    echo cu128
  elif [ "$n" -ge 126 ]; then
    echo cu126
  fi
}

# Reads one fact from the workspace settings through nyx_core's Settings (whatever its storage):
#   nyx_setting password   -> "yes"/"no": a password is stored or set by NYX_PASSWORD
#   nyx_setting sd_scripts -> "<sd-scripts dir>|<its Python>" as settings.toml records them (the
#                             environment left out: the record is for a Nyx started without it)
nyx_setting() {
  "$(nyx_python)" - "$NYX_WORKSPACE" "$1" <<'PY'
import sys
sys.path.insert(0, ".")
from nyx_core.settings import Settings
if sys.argv[2] == "password":
    s = Settings.load(sys.argv[1])
    print("yes" if getattr(s, "password_hash", "") or s.password else "no")
else:
    s = Settings.load(sys.argv[1], env={})
    print(f"{s.sd_scripts_dir}|{s.python_for_sd_scripts}")
PY
}

# The dashboard password: NYX_PASSWORD, else the stored one, else a generated one, stored through
# Settings and printed here once (the platform's container log; never a log file in the workspace).
ensure_password() {
  if [ -n "${NYX_PASSWORD:-}" ]; then
    echo "pod_start: dashboard password from NYX_PASSWORD"
  elif [ "$(nyx_setting password)" = yes ]; then
    echo "pod_start: dashboard password: the one stored in the workspace settings (change: nyx settings password)"
  else
    generated="$("$(nyx_python)" -c 'import secrets; print(secrets.token_urlsafe(15))')"
    printf '%s\n' "$generated" | "$(nyx_python)" -m nyx_core --workspace "$NYX_WORKSPACE" settings password --stdin >/dev/null \
      || { echo "pod_start: could not store a password; refusing to serve without one" >&2; return 1; }
    echo "Generated dashboard password (shown only now; change it with \`nyx settings password\`): $generated"
  fi
}

# Reachability of the package index (PIP_INDEX_URL when set). NYX_OFFLINE=1 forces offline.
is_online() {
  [ "${NYX_OFFLINE:-0}" = 1 ] && return 1
  local url="${PIP_INDEX_URL:-https://pypi.org/simple}"
  "$(nyx_python)" - "$url" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/pip/", timeout=5)
PY
}

# The report: one row per step. RESULT is done | skipped | failed | missing (missing = needs the
# network, or an earlier missing step, to finish; what training still needs).
REPORT_ROWS=()
report_row() {  # report_row STEP RESULT DETAIL [FIX]
  REPORT_ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"${4:-}")
  printf '  %-8s %s: %s\n' "$2" "$1" "$3"
}

print_report() {
  local row step result detail fix failed=0 missing=0
  echo
  echo "== Nyx set-up report"
  printf '%-24s %-8s %s\n' STEP RESULT DETAIL
  for row in "${REPORT_ROWS[@]}"; do
    IFS=$'\t' read -r step result detail fix <<<"$row"
    printf '%-24s %-8s %s\n' "$step" "$result" "$detail"
    if [ -n "$fix" ]; then printf '%-24s %-8s fix: %s\n' "" "" "$fix"; fi
    [ "$result" = failed ] && failed=$((failed + 1))
    [ "$result" = missing ] && missing=$((missing + 1))
  done
  if [ "$missing" -gt 0 ]; then
    echo
    echo "Training still needs:"
    for row in "${REPORT_ROWS[@]}"; do
      IFS=$'\t' read -r step result detail fix <<<"$row"
      if [ "$result" = missing ]; then
        case "$fix" in
          the*|"") echo "  - $step: $detail" ;;
          *) echo "  - $step: $detail; $fix" ;;
        esac
      fi
    done
  fi
  echo
  echo "failed: $failed, missing: $missing"
  [ "$failed" -eq 0 ]
}
