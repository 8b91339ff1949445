#!/usr/bin/env bash
# ceph-down.sh: stop the cluster that scripts/ceph-up.sh started in DIR and
# remove DIR.
#
#   scripts/ceph-down.sh [--keep] DIR
#
# Order matters (a client left mounted makes the MDS wait for it): first the
# clients (ceph-fuse mounts below DIR, mount points listed one per line in
# DIR/mounts by whoever mounted them elsewhere, and any process still using
# DIR/ceph.conf), then the MDS, OSD, manager and monitor. Each gets SIGTERM,
# a bounded wait, then SIGKILL. --keep leaves DIR (logs) in place.
# Succeeds when nothing is running, including when DIR does not exist.
set -uo pipefail

KEEP=0
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    -*) echo "ceph-down: unknown option $1" >&2; exit 2 ;;
    *) DIR=$1 ;;
  esac
  shift
done
[ -n "$DIR" ] || { echo "usage: ceph-down.sh [--keep] DIR" >&2; exit 2; }
[ -d "$DIR" ] || exit 0
DIR=$(cd "$DIR" && pwd)
CONF=$DIR/ceph.conf
MARK="# polytropon ceph-up cluster"
log() { echo "ceph-down: $*" >&2; }

if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  log "error: $CONF was not written by ceph-up.sh; refusing to touch $DIR"
  exit 1
fi
if [ ! -f "$CONF" ] && [ ! -d "$DIR/run" ] && [ -n "$(ls -A "$DIR")" ]; then
  log "error: $DIR holds no ceph-up cluster; refusing to remove it"
  exit 1
fi

# stop_pid PID SECONDS: SIGTERM, wait, SIGKILL, wait.
stop_pid() {
  local pid=$1 wait=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid did not exit within ${wait}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid survived SIGKILL (stuck in the kernel?)"
  return 1
}

# unmount_fuse MNT: unmount a ceph-fuse (or other FUSE) mount, lazily when
# busy; the daemon exits once the mount is gone.
unmount_fuse() {
  local mnt=$1
  grep -qF " $mnt " /proc/self/mounts 2>/dev/null || return 0
  timeout 10 fusermount3 -u "$mnt" 2>/dev/null || timeout 10 umount "$mnt" 2>/dev/null ||
    { log "$mnt busy: lazy unmount"; umount -l "$mnt" 2>/dev/null; }
}

# 1. Clients.
mounts=()
if [ -f "$DIR/mounts" ]; then
  while IFS= read -r m; do [ -n "$m" ] && mounts+=("$m"); done <"$DIR/mounts"
fi
while read -r _ mnt fstype _; do
  case "$fstype" in fuse.ceph-fuse|fuse.unionfs|fuse) ;; *) continue ;; esac
  mnt=$(printf '%b' "$mnt")
  case "$mnt" in "$DIR"/*) mounts+=("$mnt") ;; esac
done </proc/self/mounts
# Deepest first: a union mounted over a ceph-fuse mount goes before it.
if [ ${#mounts[@]} -gt 0 ]; then
  while IFS= read -r m; do unmount_fuse "$m"; done < <(printf '%s\n' "${mounts[@]}" | awk '{print length($0) "\t" $0}' | sort -rn | cut -f2-)
fi
# Processes still using this cluster's configuration (ceph-fuse started with
# -c DIR/ceph.conf, test binaries) are clients of a cluster about to vanish.
daemons=" "
for f in "$DIR"/run/*.pid; do [ -s "$f" ] && daemons+="$(cat "$f") "; done
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [ "$pid" != $$ ] || continue
  case "$daemons" in *" $pid "*) continue ;; esac
  cmd=$( { tr "\0" " " <"$p/cmdline"; } 2>/dev/null) || continue
  case "$cmd" in
    ceph-fuse*"$CONF"*|*/ceph-fuse*"$CONF"*) log "stopping client $pid: $cmd"; stop_pid "$pid" 5 ;;
  esac
done

# 2. Daemons, in reverse dependency order.
rc=0
for d in mds.a osd.0 mgr.x mon.a; do
  f=$DIR/run/$d.pid
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  # Only a process that is really this daemon of this cluster.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$CONF"; then
    wait=10
    [ "$d" != mds.a ] || wait=5
    stop_pid "$pid" "$wait" || rc=1
  fi
  rm -f "$f"
done

if [ "$KEEP" = 0 ] && [ $rc = 0 ]; then
  rm -rf --one-file-system "$DIR" || rc=1
fi
exit $rc
