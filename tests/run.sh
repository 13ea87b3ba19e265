#!/usr/bin/env bash
# The test command from the README: installs everything the tests need on a fresh machine,
# then runs the whole suite (unit, AppTest, and the real-browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: chromium (browser tests), shellcheck (every shell script is checked).
APT=()
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then APT+=(chromium); fi
if ! command -v shellcheck >/dev/null 2>&1; then APT+=(shellcheck); fi
if [ "${#APT[@]}" -gt 0 ]; then
  echo "== installing Debian's ${APT[*]} for the tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT[@]}" >/dev/null
fi

echo "== installing Python requirements (app + tests)"
python -m pip install -q --disable-pip-version-check -r requirements-test.txt

echo "== running tests"
exec python -m pytest "$@"
