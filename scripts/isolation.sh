#!/usr/bin/env bash
# isolation.sh: records the isolation figures (docs/isolation.md) on a quiet
# host, as root: Fig 1/6a with 1 and 7 fileservers, 6b and 6c, each a
# results run under out/isolation (about 45 minutes in all: ~12, ~13, ~12
# and ~6). Name files to run only those: scripts/isolation.sh
# experiments/fig6c-isolation-cpu.toml
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
mkdir -p bin out/isolation
"$GO" build -o bin/polytropon ./cmd/polytropon
make -s -C fs/preload
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(experiments/fig6a-isolation-randomio.toml experiments/fig6a-isolation-randomio-7fls.toml
    experiments/fig6b-isolation-webserver.toml experiments/fig6c-isolation-cpu.toml)
fi
for f in "${files[@]}"; do
  start=$(date +%s)
  bin/polytropon run -out out/isolation "$f"
  echo "isolation.sh: $f took $(( $(date +%s) - start )) s" >&2
done
