#!/usr/bin/env bash
# The test command from the README: installs everything the tests need on a fresh machine,
# then runs the whole suite (unit, AppTest, and the real-browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== installing Python requirements (app + tests)"
python -m pip install -q --disable-pip-version-check -r requirements-test.txt

echo "== running tests"
exec python -m pytest "$@"
