#!/usr/bin/env bash
# bench-threads.sh: issue 20's measurements, "D fast when threads outnumber
# cores" (docs/bench-threads.md). As root, on a quiet machine:
#
#   scripts/bench-threads.sh [OUT]            # OUT default out/bench-threads-<UTC time>
#
# It runs, each comparison within one run or one benchmark invocation:
#   1. the table: fileserver (quick.toml's settings) on one pool of one core
#      with 1, 2, 4 and 8 threads per core, K and D in one `polytropon run`
#      per wait strategy of D (adaptive, spin-futex, futex): throughput and
#      stat p50/p99;
#   2. the goals' runs: quick.toml's fileserver (4 threads) on K and D at one
#      pool of one core and one pool of two cores;
#   3. db_bench fillrandom (defaults) natively, on D (adaptive and the old
#      spin-futex) and on FUSE (BenchmarkDbBench of fs/preload);
#   4. the service goals (BenchmarkServiceGoals of runner/ipcbench) with the
#      adaptive and spin-futex waits, and BenchmarkStatCores (stat from 4
#      goroutines on a pool of one core and one of two, back to back);
#   5. profiles of D alone on the goals' fileserver (one repetition at one
#      core, one at two), as root with perf (Debian's linux-perf, installed
#      when missing): `perf sched record` of the whole run, summarised into
#      OUT/profile/sched-<N>core-timehist.txt (`perf sched timehist -s`: run
#      time, sched-ins and waits per thread; the service threads are named
#      polysvc-q<queue>) and -latency.txt (`perf sched latency`), and a
#      `perf record -a -g` of another run, split by thread name and shared
#      object (cpu-<N>core-by-comm.txt) and by symbol (-by-sym.txt);
# then writes OUT/table.md: the table and the goal ratios.
#
# Knobs (environment): REPS (default 3), DURATION (fileserver seconds,
# default 3), THREADS (per core, default "1 2 4 8"), WAITS (default
# "adaptive spin-futex futex"), SKIP="table dbbench goals profile" to leave
# parts out (the goals' fileserver runs always run), KEEP_PERF=1 keeps the
# perf.data files (the sched ones take hundreds of MB).
# About 12 minutes with the defaults on a 2-vCPU VM (the parts 1-4 took
# 7.5 minutes on a quiet one, the profiles about 3); a tiny setting
# (REPS=1 DURATION=1 THREADS="1 4" WAITS="adaptive futex") took 3 minutes
# on a loaded one.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
DURATION=${DURATION:-3}
THREADS=${THREADS:-1 2 4 8}
WAITS=${WAITS:-adaptive spin-futex futex}
SKIP=${SKIP:-}
KEEP_PERF=${KEEP_PERF:-}
OUT=${1:-out/bench-threads-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/exp" "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
"$GO" build -o "$OUT/polytropon" ./cmd/polytropon
make -s -C fs/preload
start=$(date +%s)
uptime | tee "$OUT/uptime-start.txt"

# wrap: a command the next experiments' `polytropon run` runs under (perf).
wrap=()

# experiment NAME CORES "THREADS..." WAIT SYSTEMS [REPS]: one experiment
# file, run (under wrap).
experiment() {
	local name=$1 cores=$2 threads=$3 wait=$4 systems=$5 reps=${6:-$REPS} values sweep="" koptions=""
	if [[ $systems == *'"K"'* ]]; then
		koptions=$(printf '[options.K]\nsize = "2GiB"')
	fi
	values=$(echo "$threads" | tr ' ' ',')
	if [ "$(echo "$threads" | wc -w)" -gt 1 ]; then
		sweep=$(printf '[[sweep]]\nparam = "fileserver.nthreads"\nvalues = [%s]\n' "$values")
	fi
	cat >"$OUT/exp/$name.toml" <<EOF
name = "$name"
systems = [$systems]
$koptions
[options.D]
cache = true
cache_capacity = "256MiB"
wait = "$wait"
[run]
repetitions = { min = $reps, max = $reps }
main_metric = "throughput_mbps"
warmup = "1s"
duration = "${DURATION}s"
timeout = "2m"
[pools]
count = [1]
cores_per_pool = $cores
memory = "2GiB"
[[workload]]
name = "fileserver"
[workload.params]
nfiles = 200
meandirwidth = 20
filesize = "64KiB"
nthreads = ${threads%% *}
iosize = "64KiB"
meanappendsize = "16KiB"
duration = "${DURATION}s"
$sweep
EOF
	"${wrap[@]}" "$OUT/polytropon" run -out "$OUT/runs" "$OUT/exp/$name.toml" >"$OUT/runs/$name.log" 2>&1 ||
		echo "run $name failed: see $OUT/runs/$name.log"
}

# 1. threads per core x wait strategy, one core.
if [[ " $SKIP " != *" table "* ]]; then
	for w in $WAITS; do
		experiment "threads-$w" 1 "$THREADS" "$w" '"K", "D"'
	done
fi
# 2. the goals' fileserver runs (D's default wait), one and two cores.
for c in 1 2; do
	experiment "goal-${c}core" "$c" 4 adaptive '"K", "D"'
done
# 3. db_bench fillrandom.
if [[ " $SKIP " != *" dbbench "* ]]; then
	"$GO" test -run '^$' -bench 'DbBench/cfg=defaults' -benchtime 1x -count "$((REPS < 2 ? REPS : 2))" ./fs/preload \
		>"$OUT/dbbench.txt" 2>&1 || echo "db_bench benchmark failed: see $OUT/dbbench.txt"
fi
# 4. the service goals.
if [[ " $SKIP " != *" goals "* ]]; then
	"$GO" test -run '^$' -bench ServiceGoals -benchtime 30x -count "$REPS" ./runner/ipcbench \
		>"$OUT/goals.txt" 2>&1 || echo "service goals benchmark failed: see $OUT/goals.txt"
	"$GO" test -run '^$' -bench StatCores -benchtime 20x -count "$REPS" ./runner/ipcbench \
		>"$OUT/statcores.txt" 2>&1 || echo "stat cores benchmark failed: see $OUT/statcores.txt"
fi
# 5. profiles of D on the goals' fileserver at one and two cores.
if [[ " $SKIP " != *" profile "* ]]; then
	PERF=${PERF:-$(command -v perf || true)}
	if [ -z "$PERF" ]; then
		echo "perf is missing: installing linux-perf"
		apt-get -o DPkg::Lock::Timeout=600 install -y linux-perf >"$OUT/apt-perf.log" 2>&1 || true
		PERF=$(command -v perf || true)
	fi
	if [ -z "$PERF" ]; then
		echo "no perf (see $OUT/apt-perf.log): the profiles are left out"
	else
		mkdir -p "$OUT/profile"
		for c in 1 2; do
			data="$OUT/profile/sched-${c}core.data"
			wrap=("$PERF" sched record -o "$data" --)
			experiment "profile-sched-${c}core" "$c" 4 adaptive '"D"' 1
			"$PERF" sched timehist -i "$data" -s >"$OUT/profile/sched-${c}core-timehist.txt" 2>&1 ||
				echo "perf sched timehist failed: see $OUT/profile/sched-${c}core-timehist.txt"
			"$PERF" sched latency -i "$data" --sort max >"$OUT/profile/sched-${c}core-latency.txt" 2>&1 ||
				echo "perf sched latency failed: see $OUT/profile/sched-${c}core-latency.txt"
			data="$OUT/profile/cpu-${c}core.data"
			wrap=("$PERF" record -a -g -F 1999 -o "$data" --)
			experiment "profile-cpu-${c}core" "$c" 4 adaptive '"D"' 1
			"$PERF" report -i "$data" --stdio --no-children --sort comm,dso -g none \
				>"$OUT/profile/cpu-${c}core-by-comm.txt" 2>&1 || echo "perf report failed: see $OUT/profile/cpu-${c}core-by-comm.txt"
			"$PERF" report -i "$data" --stdio --no-children --sort comm,sym -g none --percent-limit 0.3 \
				>"$OUT/profile/cpu-${c}core-by-sym.txt" 2>&1 || echo "perf report failed: see $OUT/profile/cpu-${c}core-by-sym.txt"
			wrap=()
			[ -n "$KEEP_PERF" ] || rm -f "$OUT/profile/sched-${c}core.data" "$OUT/profile/cpu-${c}core.data"
		done
	fi
fi
uptime | tee "$OUT/uptime-end.txt"
python3 scripts/bench-threads-table.py "$OUT" | tee "$OUT/table.md"
echo "wall time: $(($(date +%s) - start)) s; results in $OUT"
