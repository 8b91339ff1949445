#!/usr/bin/env bash
# justitia.sh: the weight-aware caching and client-cache measurements
# (docs/bench-cache.md, issue 19) on a quiet machine: the three Justitia
# experiments through the harness, the clones' memory through D and the
# clones' cache pages in-process. Results land under ${OUT:-out}/; each
# experiment's PV, Jain, per-tenant bandwidth and the clones' memory are
# printed at the end. About 12 minutes on a 2-vCPU host.
#
#   scripts/justitia.sh            # everything
#   scripts/justitia.sh reread     # one part: reread, aging, fileserver, clones, clones-memory
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
OUT=${OUT:-out}
mkdir -p bin "$OUT"
"$GO" build -o bin/polytropon ./cmd/polytropon
make -s -C fs/preload
export POLYTROPON_BIN=$PWD/bin/polytropon

latest() { ls -d "$OUT/$1"-*/ | tail -n1; }

for part in "${@:-reread aging fileserver clones clones-memory}"; do
  for p in $part; do
    case $p in
    reread | aging | fileserver)
      bin/polytropon run -out "$OUT" "experiments/justitia-$p.toml"
      echo "== justitia-$p: $(latest "justitia-$p")"
      awk -F, '$2 ~ /^(throughput_mbps@c[0-9]+|pv|jain)$/ {print $1, $2, $5}' "$(latest "justitia-$p")/summary.csv"
      ;;
    clones)
      echo "== cachebench -clones"
      bin/polytropon cachebench -clones 1,4,16 -image 256MiB
      ;;
    clones-memory)
      bin/polytropon run -out "$OUT" experiments/clones-memory.toml
      echo "== clones-memory: $(latest clones-memory)"
      awk -F, '$2 ~ /^memory_(peak|current)_bytes(\{peak_scope=[a-z]+\})?$/ {printf "%s %s %.0f MiB\n", $1, $2, $5/1048576}' "$(latest clones-memory)/summary.csv"
      ;;
    *)
      echo "justitia.sh: unknown part $p (want reread, aging, fileserver, clones, clones-memory)" >&2
      exit 2
      ;;
    esac
  done
done
