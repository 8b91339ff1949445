#!/usr/bin/env bash
# ci-gate.sh: the regression gate of a testbed's CI (docs/ci.md). As root,
# from a clone of the repository:
#
#   scripts/ci-gate.sh [-base main] [-new HEAD] [-rounds 6] [-history DIR]
#                      [-run-flags "..."] [EXPERIMENT.toml...]
#
# Builds this checkout's polytropon (the orchestrator), then for each
# experiment (default experiments/ab-quick.toml) runs `polytropon ab`:
# base and new (commits, built in temporary worktrees, or binaries) in
# interleaved ABBA rounds on this host, and gates each A/B run. The A/B
# runs are kept under the history directory (default
# /var/lib/polytropon-ci/history), and `polytropon history` redraws the
# trend of every metric over commits there, with its change points.
# Exit: the weightiest gate status over the experiments (14 incomparable,
# 13 incomplete, 10 regression, 12 too few, 11 noisy, 15 inconclusive,
# 0 pass); 2 for a bad command line.
set -uo pipefail
cd "$(dirname "$0")/.."
base=main new=HEAD rounds=6 history=/var/lib/polytropon-ci/history run_flags=""
files=()
while [ $# -gt 0 ]; do
	case "$1" in
	-base) base=$2; shift 2 ;;
	-new) new=$2; shift 2 ;;
	-rounds) rounds=$2; shift 2 ;;
	-history) history=$2; shift 2 ;;
	-run-flags) run_flags=$2; shift 2 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	-*) echo "ci-gate: unknown flag $1" >&2; exit 2 ;;
	*) files+=("$1"); shift ;;
	esac
done
[ ${#files[@]} -gt 0 ] || files=(experiments/ab-quick.toml)
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=${GOFLAGS:--mod=mod}
mkdir -p bin "$history" || exit 2
go build -o bin/polytropon ./cmd/polytropon || exit 2
[ ! -f fs/preload/Makefile ] || make -s -C fs/preload || exit 2

worst=0
rank() { # the gate's order of weight; unknown statuses (1: a failed run) weigh most
	case "$1" in
	0) echo 0 ;; 15) echo 1 ;; 11) echo 2 ;; 12) echo 3 ;; 10) echo 4 ;; 13) echo 5 ;; 14) echo 6 ;; *) echo 7 ;;
	esac
}
for f in "${files[@]}"; do
	echo "ci-gate: $f: base $base, new $new, $rounds rounds" >&2
	bin/polytropon ab -base "$base" -new "$new" -rounds "$rounds" -out "$history" -run-flags "$run_flags" "$f"
	status=$?
	echo "ci-gate: $f: exit $status" >&2
	if [ "$(rank "$status")" -gt "$(rank "$worst")" ]; then worst=$status; fi
done
bin/polytropon history -plots "$history/plots" "$history" || true
exit "$worst"
