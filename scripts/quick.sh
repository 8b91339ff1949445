#!/usr/bin/env bash
# quick.sh: the main job (README "Quickstart", command 1). Installs what it
# needs, builds polytropon and runs experiments/quick.toml on the embedded
# local backend; results and plots land under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
mkdir -p bin out
"$GO" build -o bin/polytropon ./cmd/polytropon
if [ -f fs/preload/Makefile ]; then make -s -C fs/preload; fi
exec bin/polytropon run -out out "${@:-experiments/quick.toml}"
