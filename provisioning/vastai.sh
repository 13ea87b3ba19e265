#!/usr/bin/env bash
# VastAI entry (template "On-start script"; see docs/deploy.md). Vast maps each port opened with
# "-p PORT:PORT" in the template's Docker options to a public one, given as VAST_TCP_PORT_<PORT>.
export NYX_PORT="${NYX_PORT:-8501}"
export NYX_WORKSPACE="${NYX_WORKSPACE:-/workspace}"
public_port_var="VAST_TCP_PORT_${NYX_PORT}"
if [ -n "${PUBLIC_IPADDR:-}" ] && [ -n "${!public_port_var:-}" ]; then
  echo "vastai: open http://${PUBLIC_IPADDR}:${!public_port_var} (port $NYX_PORT inside the instance)"
fi
exec bash "$(dirname "$0")/pod_start.sh"
