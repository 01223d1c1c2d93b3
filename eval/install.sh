#!/bin/bash
# Install what `make eval` needs on a fresh Debian 12 machine (as root), idempotently:
# system tools with apt-get, then every agent stack into its OWN environment under
# eval/.envs/ (Python venvs from the pinned lock files in eval/lock/) and
# eval/stacks/node/node_modules (npm ci from package-lock.json).  Never touches the
# sensor's .venv.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
need=()
for p in git gdb curl coreutils python3-venv; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then echo "eval: need root to install: ${need[*]}" >&2; exit 2; fi
	echo "eval: apt-get install ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The node stack was measured on Node 20 (Debian 12's own nodejs is 18; the machines here
# carry Node 20).  Say so rather than fail later with a framework's stack trace.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
	echo "eval: warning: Node $(node --version 2>/dev/null) found; the node-openai-agents stack is measured on Node 20 and may not start" >&2
fi
mkdir -p .envs
for env in langgraph openai-agents mcp smolagents pydantic-ai autogen llamaindex tools; do
	lock=lock/$env.txt stamp=.envs/$env/.stamp
	if [ -f "$stamp" ] && [ "$stamp" -nt "$lock" ]; then continue; fi
	echo "eval: environment $env (pinned: $lock)"
	rm -rf ".envs/$env"
	"$PY" -m venv ".envs/$env"
	".envs/$env/bin/pip" install -q --upgrade pip
	".envs/$env/bin/pip" install -q -r "$lock"
	touch "$stamp"
done
if ! [ stacks/node/node_modules/.package-lock.json -nt stacks/node/package-lock.json ]; then
	echo "eval: node_modules (npm ci, pinned: stacks/node/package-lock.json)"
	(cd stacks/node && npm ci --no-audit --no-fund --loglevel=error)
fi
