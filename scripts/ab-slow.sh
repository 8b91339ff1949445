#!/usr/bin/env bash
# ab-slow.sh: the regression gate's real check (docs/ci.md). Builds BASE
# (default main) a second time with scripts/ab-slowdown.patch applied (a
# 50 µs busy wait in every request the filesystem service answers: D's hot
# path; K does not use the service), in a temporary worktree removed at
# the end, and runs `polytropon ab` of BASE against it. Expected: D's
# throughput is a REGRESSION (exit 10); K is not. As root:
#
#   scripts/ab-slow.sh main experiments/ab-quick.toml [ab flags...]
#
# The A/A control is `bin/polytropon ab -base main -new main FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-main}
file=${2:-experiments/ab-quick.toml}
shift $(( $# < 2 ? $# : 2 ))
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=${GOFLAGS:--mod=mod}
wt=$(mktemp -d /tmp/polytropon-slow-XXXXXX)
cleanup() { git worktree remove --force "$wt" 2>/dev/null || { rm -rf "$wt"; git worktree prune; }; }
trap cleanup EXIT
git worktree add --quiet --detach "$wt" "$base"
git -C "$wt" apply "$PWD/scripts/ab-slowdown.patch"
(cd "$wt" && go build -o bin/polytropon ./cmd/polytropon && make -s -C fs/preload)
mkdir -p bin
go build -o bin/polytropon ./cmd/polytropon
set +e
bin/polytropon ab -base "$base" -new "$wt/bin/polytropon" "$@" "$file"
status=$?
echo "ab-slow: exit $status (10 = REGRESSION)" >&2
exit $status
