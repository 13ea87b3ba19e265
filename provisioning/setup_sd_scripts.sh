#!/usr/bin/env bash
# Kept for older instructions: the whole set-up (Nyx and sd-scripts, idempotent) is setup.sh.
exec bash "$(dirname "$0")/setup.sh" "$@"
