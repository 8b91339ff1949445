#!/usr/bin/env bash
# quick.sh: the main job (README "Quickstart", command 1). Installs what it
# needs, builds the complete polytropon (Makefile: every optional part the
# setup installs, Ceph included) and runs experiments/quick.toml on the
# embedded local backend; results and plots land under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
mkdir -p out
make -s GO="$GO" build
exec bin/polytropon run -out out "${@:-experiments/quick.toml}"
