#!/usr/bin/env bash
# One command from an empty machine to "ready to train". Safe to re-run: every step checks first
# and is skipped when already done. Ends with a table of what was done, skipped, failed (with the
# fix) and, without network, exactly what training still needs. Exit 1 only when a step failed.
#
#   bash provisioning/setup.sh [--xformers] [--bitsandbytes] [--lycoris] [--onnxruntime-gpu] [--offline]
#
# Environment (all optional):
#   NYX_WORKSPACE           workspace root (default ./workspace; /workspace on pods)
#   NYX_PYTHON              use this interpreter for Nyx instead of making .venv (e.g. the image's)
#   NYX_VENV                Nyx's venv (default <repo>/.venv)
#   NYX_SD_SCRIPTS          an existing sd-scripts checkout instead of the pinned submodule
#   NYX_SD_SCRIPTS_PYTHON   an existing Python for sd-scripts instead of <sd-scripts>/venv
#   TORCH_SPEC              what to pip-install for torch (default: torch==2.13.0 + matching torchvision)
#   TORCH_INDEX_URL         wheel index for torch (default: chosen from nvidia-smi's CUDA version, or CPU)
#   NYX_OFFLINE=1           do not try the network (same as --offline)
set -uo pipefail
# shellcheck source=provisioning/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$NYX_REPO" || exit 1

TORCH_MIN="2.6"     # sd-scripts at the pin: "PyTorch 2.6.0 or later is required"
LYCORIS_SPEC="lycoris-lora==3.4.0"   # 4.1.3 crashes SD1.5 LoCon with "duplicated lora name"
EXTRAS=()
for arg in "$@"; do
  case "$arg" in
    --xformers) EXTRAS+=(xformers) ;;
    --bitsandbytes) EXTRAS+=(bitsandbytes) ;;
    --lycoris) EXTRAS+=(lycoris) ;;
    --onnxruntime-gpu) EXTRAS+=(onnxruntime-gpu) ;;
    --offline) NYX_OFFLINE=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

mkdir -p "$NYX_LOGS"
LOG="$NYX_LOGS/setup.log"
echo "== $(date -u +%FT%TZ) set-up in $NYX_REPO, workspace $NYX_WORKSPACE (details: $LOG)"
echo "== $(date -u +%FT%TZ) set-up" >>"$LOG"
ONLINE=0
if is_online; then ONLINE=1; fi
[ "$ONLINE" = 1 ] || echo "== no network (or --offline): doing what can be done without it"

run_logged() { "$@" >>"$LOG" 2>&1; }
ensure_pip() { "$1" -m pip --version >/dev/null 2>&1 || run_logged "$1" -m ensurepip --upgrade --default-pip; }

# 1. Nyx's own environment ------------------------------------------------------------------
if [ -z "${NYX_PYTHON:-}" ]; then
  VENV="${NYX_VENV:-$NYX_REPO/.venv}"
  if [ ! -x "$VENV/bin/python" ]; then
    if run_logged python3 -m venv "$VENV"; then
      report_row "nyx venv" "done" "created $VENV"
    else
      report_row "nyx venv" failed "could not create $VENV" "install python3-venv (apt-get install python3-venv), or set NYX_PYTHON"
    fi
  else
    report_row "nyx venv" skipped "$VENV exists"
  fi
fi
PY="$(nyx_python)"
if MISSING="$("$PY" provisioning/reqcheck.py requirements.txt 2>&1)" && "$PY" -c 'import nyx_core' >/dev/null 2>&1; then
  report_row "nyx requirements" skipped "$PY already has requirements.txt"
elif [ "$ONLINE" = 1 ]; then
  if run_logged "$PY" -m pip install --disable-pip-version-check -r requirements.txt; then
    report_row "nyx requirements" "done" "installed requirements.txt into $PY"
  else
    report_row "nyx requirements" failed "pip install -r requirements.txt failed" "read $LOG"
  fi
else
  report_row "nyx requirements" failed "no network; $PY lacks: $(echo "$MISSING" | head -n 3 | tr '\n' ' ')" \
    "re-run with network, or NYX_PYTHON=<a python that has requirements.txt>"
fi

# 2. sd-scripts checkout ---------------------------------------------------------------------
PIN="$(pinned_sd_scripts)"
SD_DIR="${NYX_SD_SCRIPTS:-$NYX_REPO/sd-scripts}"
SD_READY=0
if [ -f "$SD_DIR/train_network.py" ]; then
  AT="$(git -C "$SD_DIR" rev-parse HEAD 2>/dev/null || echo "an unknown commit (not a git checkout)")"
  if [ "$AT" = "$PIN" ]; then
    report_row "sd-scripts checkout" skipped "$SD_DIR at the pinned ${PIN:0:10}"
  else
    case "$AT" in *[!0-9a-f]*) ;; *) AT="${AT:0:10}" ;; esac
    report_row "sd-scripts checkout" skipped "$SD_DIR at $AT, not the pinned ${PIN:0:10}" \
      "git -C $SD_DIR checkout $PIN (option checks follow the pinned commit)"
  fi
  SD_READY=1
elif [ -n "${NYX_SD_SCRIPTS:-}" ]; then
  report_row "sd-scripts checkout" failed "NYX_SD_SCRIPTS=$SD_DIR has no train_network.py" \
    "point NYX_SD_SCRIPTS at an sd-scripts checkout, or unset it to use the pinned submodule"
elif [ "$ONLINE" = 0 ]; then
  report_row "sd-scripts checkout" missing "no checkout at $SD_DIR and no network" \
    "connect and re-run setup.sh (fetches sd-scripts ${PIN:0:10}), or set NYX_SD_SCRIPTS=<checkout>"
elif { [ -e .git ] && run_logged git submodule update --init --depth 1 sd-scripts; } \
  || { [ -e .git ] && run_logged git submodule update --init sd-scripts; } \
  || { run_logged git clone https://github.com/kohya-ss/sd-scripts.git "$SD_DIR" \
       && run_logged git -C "$SD_DIR" checkout "$PIN"; }; then
  report_row "sd-scripts checkout" "done" "$SD_DIR at ${PIN:0:10}"
  SD_READY=1
else
  report_row "sd-scripts checkout" failed "could not fetch sd-scripts" "read $LOG; or set NYX_SD_SCRIPTS=<checkout>"
fi

# 3. sd-scripts' own environment ------------------------------------------------------------
# A torch the image already has (RunPod/Vast PyTorch images) is reused through
# --system-site-packages instead of downloading another 2-3 GB.
torch_version() {  # prints "2.8.0+cu128" for an interpreter, nothing when it has no torch
  "$1" -c 'import torch; print(torch.__version__)' 2>/dev/null
}
torch_fits() {  # torch_fits VERSION: at least TORCH_MIN
  local v="${1%%+*}"
  [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$TORCH_MIN" "$v" | sort -V | head -n 1)" = "$TORCH_MIN" ]
}
SD_PY="${NYX_SD_SCRIPTS_PYTHON:-$SD_DIR/venv/bin/python}"
SD_ENV_READY=0
if [ -x "$SD_PY" ]; then
  report_row "sd-scripts venv" skipped "$SD_PY exists"
  SD_ENV_READY=1
elif [ -n "${NYX_SD_SCRIPTS_PYTHON:-}" ]; then
  report_row "sd-scripts venv" failed "NYX_SD_SCRIPTS_PYTHON=$SD_PY does not exist" "point it at a Python, or unset it"
elif [ "$SD_READY" = 0 ]; then
  report_row "sd-scripts venv" missing "waits for the sd-scripts checkout" "the checkout first (see above)"
else
  BASE_PY="$(command -v python3)"
  IMAGE_TORCH="$(torch_version "$BASE_PY")"
  VENV_ARGS=()
  REUSE=""
  if torch_fits "$IMAGE_TORCH"; then VENV_ARGS=(--system-site-packages); REUSE=" (reuses torch $IMAGE_TORCH from the image)"; fi
  # pip comes later, only when something is installed (ensure_pip): creating the venv stays instant
  if run_logged "$BASE_PY" -m venv --without-pip "${VENV_ARGS[@]}" "$SD_DIR/venv"; then
    report_row "sd-scripts venv" "done" "created $SD_DIR/venv$REUSE"
    SD_ENV_READY=1
  else
    report_row "sd-scripts venv" failed "could not create $SD_DIR/venv" "install python3-venv, or set NYX_SD_SCRIPTS_PYTHON"
  fi
fi

# 4. torch: the build that fits this machine --------------------------------------------------
CUDA="$(driver_cuda_version)"
if [ -n "$CUDA" ]; then
  INDEX="$(torch_index_for_cuda "$CUDA")"
  WHAT="CUDA build for driver CUDA $CUDA${INDEX:+ ($INDEX)}"
else
  INDEX=cpu
  WHAT="CPU build (nvidia-smi found no GPU)"
fi
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0 torchvision}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-${INDEX:+https://download.pytorch.org/whl/$INDEX}}"
HAVE_TORCH=""
[ "$SD_ENV_READY" = 1 ] && HAVE_TORCH="$(torch_version "$SD_PY")"
if torch_fits "$HAVE_TORCH"; then
  report_row "torch" skipped "torch $HAVE_TORCH already in sd-scripts' Python (wanted: $WHAT)"
elif [ "$SD_ENV_READY" = 0 ]; then
  report_row "torch" missing "$TORCH_SPEC, $WHAT; waits for sd-scripts' venv" "the venv first (see above)"
elif [ -n "$CUDA" ] && [ -z "$TORCH_INDEX_URL" ]; then
  report_row "torch" failed "driver CUDA $CUDA is older than torch 2.13's CUDA builds (12.6+)" \
    "update the NVIDIA driver, or TORCH_SPEC='torch==2.6.0 torchvision==0.21.0' TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124"
elif [ "$ONLINE" = 0 ]; then
  report_row "torch" missing "no network: $TORCH_SPEC, $WHAT" "connect and re-run setup.sh"
else
  ensure_pip "$SD_PY"
  # shellcheck disable=SC2086  # TORCH_SPEC is a list of requirements
  if run_logged "$SD_PY" -m pip install --disable-pip-version-check $TORCH_SPEC ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}; then
    report_row "torch" "done" "$(torch_version "$SD_PY"), $WHAT"
  else
    report_row "torch" failed "pip install $TORCH_SPEC failed" "read $LOG; set TORCH_SPEC/TORCH_INDEX_URL for this machine"
  fi
fi

# 5. sd-scripts' requirements -----------------------------------------------------------------
if [ "$SD_ENV_READY" = 0 ] || [ "$SD_READY" = 0 ]; then
  report_row "sd-scripts requirements" missing "waits for the checkout and its venv" "the steps above first"
elif SD_MISSING="$("$SD_PY" provisioning/reqcheck.py "$SD_DIR/requirements.txt" 2>&1)" \
  && "$SD_PY" -c 'import library' >/dev/null 2>&1; then
  report_row "sd-scripts requirements" skipped "$SD_PY already has $SD_DIR/requirements.txt"
elif [ "$ONLINE" = 0 ]; then
  report_row "sd-scripts requirements" missing "no network; lacks $(echo "$SD_MISSING" | grep -c .) requirement(s), e.g. $(echo "$SD_MISSING" | head -n 1)" \
    "connect and re-run setup.sh"
elif ensure_pip "$SD_PY" && (cd "$SD_DIR" && run_logged "$SD_PY" -m pip install --disable-pip-version-check -r requirements.txt); then
  report_row "sd-scripts requirements" "done" "installed $SD_DIR/requirements.txt"
else
  report_row "sd-scripts requirements" failed "pip install -r requirements.txt in $SD_DIR failed" "read $LOG"
fi

# 6. optional extras (only when asked) ------------------------------------------------------
# Installed against the torch that is there (a constraint), so an extra never swaps torch.
for extra in ${EXTRAS[@]+"${EXTRAS[@]}"}; do
  case "$extra" in
    xformers) spec=xformers; mod=xformers ;;
    bitsandbytes) spec=bitsandbytes; mod=bitsandbytes ;;
    lycoris) spec="$LYCORIS_SPEC"; mod=lycoris ;;
    onnxruntime-gpu) spec=onnxruntime-gpu; mod=onnxruntime ;;
  esac
  if [ "$SD_ENV_READY" = 1 ] && "$SD_PY" -c "import $mod" >/dev/null 2>&1 \
    && { [ "$extra" != lycoris ] || [ "$("$SD_PY" -c 'from importlib.metadata import version; print(version("lycoris-lora"))' 2>/dev/null)" = "${LYCORIS_SPEC#*==}" ]; }; then
    report_row "extra: $extra" skipped "already importable in sd-scripts' Python"
  elif [ "$SD_ENV_READY" = 0 ]; then
    report_row "extra: $extra" missing "$spec; waits for sd-scripts' venv" "the venv first (see above)"
  elif [ "$ONLINE" = 0 ]; then
    report_row "extra: $extra" missing "no network: $spec" "connect and re-run setup.sh --$extra"
  else
    ensure_pip "$SD_PY"
    CONSTRAINT="$(mktemp)"
    [ -n "$(torch_version "$SD_PY")" ] && echo "torch==$(torch_version "$SD_PY")" >"$CONSTRAINT"
    # shellcheck disable=SC2086
    if run_logged "$SD_PY" -m pip install --disable-pip-version-check -c "$CONSTRAINT" $spec; then
      report_row "extra: $extra" "done" "installed $spec"
    else
      report_row "extra: $extra" failed "pip install $spec failed (no build for this torch?)" "read $LOG; training works without it"
    fi
    rm -f "$CONSTRAINT"
  fi
done

# 7. accelerate's default config (a single-machine one; Nyx passes GPUs and precision per run) -
if [ "$SD_ENV_READY" = 1 ] && "$SD_PY" -c 'import accelerate' >/dev/null 2>&1; then
  ACC_CFG="$("$SD_PY" -c 'from accelerate.commands.config.config_args import default_config_file as f; print(f)' 2>/dev/null)"
  if [ -n "$ACC_CFG" ] && [ -f "$ACC_CFG" ]; then
    report_row "accelerate config" skipped "$ACC_CFG exists"
  elif run_logged "$SD_PY" -c 'from accelerate.utils import write_basic_config; write_basic_config(mixed_precision="no")'; then
    report_row "accelerate config" "done" "wrote ${ACC_CFG:-the default config}"
  else
    report_row "accelerate config" failed "could not write accelerate's default config" "run: $SD_PY -m accelerate.commands.config default"
  fi
else
  report_row "accelerate config" missing "waits for sd-scripts' requirements (accelerate)" "the steps above first"
fi

# 8. record the chosen interpreters in the workspace settings ---------------------------------
if [ "$SD_READY" = 1 ] && [ "$SD_ENV_READY" = 1 ]; then
  if [ "$(nyx_setting sd_scripts 2>/dev/null)" = "$SD_DIR|$SD_PY" ]; then
    report_row "settings" skipped "sd-scripts $SD_DIR and Python $SD_PY already recorded"
  elif OUT="$("$PY" -m nyx_core --workspace "$NYX_WORKSPACE" settings set sd_scripts_dir "$SD_DIR" 2>&1 \
             && "$PY" -m nyx_core --workspace "$NYX_WORKSPACE" settings set sd_scripts_python "$SD_PY" 2>&1)"; then
    report_row "settings" "done" "recorded sd-scripts $SD_DIR and Python $SD_PY in settings.toml"
  else
    report_row "settings" failed "could not record sd-scripts in settings: $OUT" "nyx settings set sd_scripts_dir $SD_DIR"
  fi
else
  report_row "settings" missing "nothing to record until sd-scripts and its Python exist" "the steps above first"
fi

print_report | tee -a "$LOG"
exit "${PIPESTATUS[0]}"
