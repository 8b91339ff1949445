#!/usr/bin/env python3
"""bench-threads-table.py OUT: the tables of scripts/bench-threads.sh.

Reads OUT/runs/<name>-<UTC time>/summary.csv (the polytropon runs the
script made), OUT/dbbench.txt and OUT/goals.txt (go test -bench output)
and prints docs/bench-threads.md's tables in Markdown: the medians over
repetitions, each ratio formed within one run or one benchmark invocation.
"""
import csv
import glob
import os
import re
import statistics
import sys

out = sys.argv[1]


def run_dir(name):
    """The newest run directory of experiment name."""
    dirs = sorted(d for d in glob.glob(os.path.join(out, "runs", name + "-*")) if os.path.isdir(d))
    return dirs[-1] if dirs else None


def summary(name):
    """{(system, cores, threads): {metric: median}} of one run."""
    d = run_dir(name)
    if d is None or not os.path.exists(os.path.join(d, "summary.csv")):
        return {}
    res = {}
    with open(os.path.join(d, "summary.csv")) as f:
        for row in csv.DictReader(f):
            params = dict(kv.split("=", 1) for kv in row["point"].split("/") if "=" in kv)
            threads = next((v for k, v in params.items() if k.endswith("nthreads")), None)
            key = (params.get("system"), threads)
            try:
                res.setdefault(key, {})[row["metric"]] = float(row["median"])
            except ValueError:
                pass
    return res


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return None if a is None or not b else a / b


waits = sorted({os.path.basename(p).rsplit("-", 1)[0][len("threads-"):]
                for p in glob.glob(os.path.join(out, "runs", "threads-*")) if os.path.isdir(p)})
print("## Fileserver on one pool of one core: threads per core x D's wait strategy\n")
print("Medians over the repetitions; K and D of a row ran in the same `polytropon run`.\n")
print("| threads/core | D wait | K MB/s | D MB/s | D/K | K stat p50/p99 µs | D stat p50/p99 µs |")
print("|---|---|---|---|---|---|---|")
rows = []
for w in waits:
    s = summary("threads-" + w)
    for (system, threads), m in s.items():
        if system != "D":
            continue
        k = s.get(("K", threads), {})
        rows.append((int(threads or 0), w, k, m))
for threads, w, k, m in sorted(rows):
    kt, dt = k.get("throughput_mbps"), m.get("throughput_mbps")
    print(f"| {threads} | {w} | {fmt(kt)} | {fmt(dt)} | {fmt(ratio(dt, kt), 2)} | "
          f"{fmt(k.get('latency_p50_us:statfile'))} / {fmt(k.get('latency_p99_us:statfile'))} | "
          f"{fmt(m.get('latency_p50_us:statfile'))} / {fmt(m.get('latency_p99_us:statfile'))} |")

print("\n## Goals\n")
print("| goal | measured | met |")
print("|---|---|---|")
g1, g2 = summary("goal-1core"), summary("goal-2core")


def tput(s, system):
    for (sy, _), m in s.items():
        if sy == system:
            return m.get("throughput_mbps")
    return None


def verdict(v, ok):
    return "-" if v is None else ("yes" if ok(v) else "**no**")


for label, s in (("1 pool x 1 core", g1), ("1 pool x 2 cores", g2)):
    r = ratio(tput(s, "D"), tput(s, "K"))
    print(f"| fileserver D >= 0.6x K, {label} | {fmt(r, 2)} (D {fmt(tput(s, 'D'))}, K {fmt(tput(s, 'K'))} MB/s) | {verdict(r, lambda v: v >= 0.6)} |")
r = ratio(tput(g2, "D"), tput(g1, "D"))
print(f"| fileserver D 2 cores >= 1.5x D 1 core (two runs) | {fmt(r, 2)} | {verdict(r, lambda v: v >= 1.5)} |")


def bench_medians(path, metric):
    """{sub-benchmark name: median of metric} from go test -bench output."""
    vals = {}
    if not os.path.exists(path):
        return vals
    for line in open(path):
        if not line.startswith("Benchmark"):
            continue
        f = line.split()
        name = re.sub(r"-\d+$", "", f[0])
        for i in range(2, len(f) - 1):
            if f[i + 1] == metric:
                vals.setdefault(name, []).append(float(f[i]))
    return {k: statistics.median(v) for k, v in vals.items()}


db = bench_medians(os.path.join(out, "dbbench.txt"), "fillrandom-us/op")


def db_of(sys_name):
    return next((v for k, v in db.items() if k.endswith("/sys=" + sys_name)), None)


native, fuse = db_of("native"), db_of("fuse")
for d in ("D", "D-spin-futex", "D-futex"):
    v = db_of(d)
    r1, r2 = ratio(native, v), ratio(fuse, v)
    print(f"| db_bench fillrandom {d} >= 1.0x native (speed) | {fmt(r1, 2)} ({fmt(v, 2)} vs {fmt(native, 2)} µs/op) | {verdict(r1, lambda x: x >= 1.0)} |")
    print(f"| db_bench fillrandom {d} >= 5x FUSE (speed) | {fmt(r2, 2)} (FUSE {fmt(fuse, 2)} µs/op) | {verdict(r2, lambda x: x >= 5)} |")

for wait in ("spin-futex", "adaptive"):
    null = bench_medians(os.path.join(out, "goals.txt"), "null/pingpong-x")
    pread = bench_medians(os.path.join(out, "goals.txt"), "ipc-pread4k-cache/kernel-x")
    n = next((v for k, v in null.items() if k.endswith("wait=" + wait)), None)
    p = next((v for k, v in pread.items() if k.endswith("wait=" + wait)), None)
    print(f"| ServiceGoals ({wait}) null round trip <= 3x ping-pong | {fmt(n, 2)}x | {verdict(n, lambda x: x <= 3)} |")
    print(f"| ServiceGoals ({wait}) cached 4 KiB pread <= 2x kernel | {fmt(p, 2)}x | {verdict(p, lambda x: x <= 2)} |")

sc = os.path.join(out, "statcores.txt")
two = bench_medians(sc, "ipc-2core/ipc-1core-x")
k1 = bench_medians(sc, "ipc/kernel-1core-x")
k2 = bench_medians(sc, "ipc/kernel-2core-x")
if two:
    v = next(iter(two.values()))
    print(f"| StatCores: D's stats 2 cores >= 1.5x 1 core (same rounds) | {fmt(v, 2)} "
          f"(D/K {fmt(next(iter(k1.values()), None), 2)} at 1 core, {fmt(next(iter(k2.values()), None), 2)} at 2) | "
          f"{verdict(v, lambda x: x >= 1.5)} |")


def timehist_by_comm(path):
    """{comm: [sched-ins, run ms]} from `perf sched timehist -s` (threads
    summed by name, "[tid]" dropped), and the idle lines."""
    by, idle = {}, []
    if not os.path.exists(path):
        return by, idle
    row = re.compile(r"^\s*(\S.*?)\[(\d+)(?:/\d+)?\]\s+(-?\d+)\s+(\d+)\s+([\d.]+)\s")
    for line in open(path, errors="replace"):
        m = row.match(line)
        if m:
            e = by.setdefault(m.group(1), [0, 0.0])
            e[0] += int(m.group(4))
            e[1] += float(m.group(5))
        elif "idle for" in line:
            idle.append(line.strip())
    return by, idle


def comm_lines(path, n):
    """The first n sample lines of a `perf report --stdio` text."""
    if not os.path.exists(path):
        return []
    return [l.rstrip() for l in open(path, errors="replace")
            if l.strip() and not l.lstrip().startswith("#")][:n]


prof = os.path.join(out, "profile")
if os.path.isdir(prof):
    print("\n## Profiles (D alone, the goals' fileserver, one repetition each, under perf)\n")
    print("| run | D MB/s (under perf) |")
    print("|---|---|")
    for kind in ("sched", "cpu"):
        for c in (1, 2):
            print(f"| profile-{kind}-{c}core | {fmt(tput(summary(f'profile-{kind}-{c}core'), 'D'))} |")
    for c in (1, 2):
        by, idle = timehist_by_comm(os.path.join(prof, f"sched-{c}core-timehist.txt"))
        if by:
            print(f"\n### {c} core(s): run time and sched-ins per thread name (`perf sched timehist -s`, whole run)\n")
            print("| thread name | sched-ins | run ms | µs per sched-in |")
            print("|---|---|---|---|")
            for comm, (n, ms) in sorted(by.items(), key=lambda kv: -kv[1][1])[:12]:
                print(f"| {comm} | {n} | {ms:.1f} | {fmt(1000 * ms / n if n else None, 2)} |")
            for l in idle:
                print(f"\n{l}")
        lines = comm_lines(os.path.join(prof, f"cpu-{c}core-by-comm.txt"), 15)
        if lines:
            print(f"\n### {c} core(s): CPU samples by thread name and object (`perf record -a`)\n")
            print("```")
            print("\n".join(lines))
            print("```")
