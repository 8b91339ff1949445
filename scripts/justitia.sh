#!/usr/bin/env bash
# justitia.sh: the weight-aware caching and client-cache measurements
# (docs/bench-cache.md, issue 19) on a quiet machine: the three Justitia
# experiments through the harness, the clones' memory through D and the
# clones' cache pages in-process. Results land under ${OUT:-out}/; each
# experiment's PV, Jain, per-tenant bandwidth and the clones' memory are
# printed at the end of its part, with the part's wall time. About 12
# minutes on a 2-vCPU host for everything (build ~1, reread ~4, aging ~2.5,
# fileserver ~3, clones ~1, clones-memory ~0.5), all in one call:
#
#   OUT=/tmp/j19 scripts/justitia.sh            # everything
#   scripts/justitia.sh reread aging            # some parts: reread, aging, fileserver,
#                                               # clones, clones-memory, driver
#   SCALE=smoke scripts/justitia.sh             # a check that every part runs (~3 min)
#
# "driver" (not in the default set, ~2 min) runs the re-read file with the
# cache's own driver (polytropon cachebench), for the harness/driver
# comparison of docs/cache.md.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
OUT=${OUT:-out}
SCALE=${SCALE:-host}
mkdir -p bin "$OUT"
"$GO" build -o bin/polytropon ./cmd/polytropon
make -s -C fs/preload
export POLYTROPON_BIN=$PWD/bin/polytropon

latest() { ls -d "$OUT/$1"-*/ | tail -n1; }

# The smoke scale shrinks the Justitia files ([scale.smoke]) and the
# clones' image; clones-memory.toml has no smoke scale and runs as it is
# (~30 s).
image=256MiB driver=()
if [ "$SCALE" = smoke ]; then
  image=16MiB driver=(-duration 1s -warmup 0s -reps 1)
fi

# A part whose run has failed points (polytropon run exits non-zero) is
# reported and the next part runs; the script exits 1 at the end.
start=$SECONDS failed=()
for part in ${@:-reread aging fileserver clones clones-memory}; do
  t0=$SECONDS
  case $part in
  reread | aging | fileserver)
    bin/polytropon run -scale "$SCALE" -out "$OUT" "experiments/justitia-$part.toml" || failed+=("$part")
    echo "== justitia-$part: $(latest "justitia-$part")"
    awk -F, '$2 ~ /^(throughput_mbps@c[0-9]+|pv|jain)$/ {print $1, $2, $5}' "$(latest "justitia-$part")/summary.csv"
    ;;
  clones)
    echo "== cachebench -clones"
    bin/polytropon cachebench -clones 1,4,16 -image "$image" || failed+=("$part")
    ;;
  clones-memory)
    bin/polytropon run -out "$OUT" experiments/clones-memory.toml || failed+=("$part")
    echo "== clones-memory: $(latest clones-memory)"
    awk -F, '$2 ~ /^memory_(peak|current)_bytes(\{peak_scope=[a-z]+\})?$/ {printf "%s %s %.0f MiB\n", $1, $2, $5/1048576}' "$(latest clones-memory)/summary.csv"
    ;;
  driver)
    echo "== cachebench experiments/justitia-reread.toml"
    bin/polytropon cachebench "${driver[@]}" -settings conventional,direct,weighted-aging -out "$OUT" experiments/justitia-reread.toml || failed+=("$part")
    ;;
  *)
    echo "justitia.sh: unknown part $part (want reread, aging, fileserver, clones, clones-memory, driver)" >&2
    exit 2
    ;;
  esac
  echo "== $part took $((SECONDS - t0)) s"
done
echo "== all parts took $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== parts with failures (see their run directories' logs): ${failed[*]}" >&2
  exit 1
fi
