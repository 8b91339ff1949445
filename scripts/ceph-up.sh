#!/usr/bin/env bash
# ceph-up.sh: bring up a single-node Ceph cluster (1 mon, 1 mgr, 1 OSD, 1 MDS
# and a CephFS file system named "cephfs") on 127.0.0.1 only, as plain
# processes whose every file lives under DIR.
#
#   scripts/ceph-up.sh [--bluestore] [--osd-size SIZE] [--port N]
#                      [--tenants t1,t2] [--timeout SECONDS] DIR
#
# DIR/ceph.conf is the configuration clients use; DIR/keyring holds the
# client.admin key; DIR/client.tN.keyring the key of tenant tN, which may
# only use the directory /tN of the file system (ceph fs authorize).
# Daemon data, logs, pid files and admin sockets stay in DIR/{mon,mgr,osd,mds},
# DIR/log and DIR/run. The OSD keeps its data in memory (memstore) unless
# --bluestore puts it on a sparse file DIR/osd-block.img.
#
# Idempotent: on a healthy cluster in DIR it only adds the tenants asked for;
# a half-dead cluster is torn down (scripts/ceph-down.sh) and rebuilt. Every
# wait is bounded; on failure it prints the reason and the tail of the
# daemon logs, stops what it started and exits non-zero.
#
# Written from the Ceph documentation ("Manual Deployment", "Create a Ceph
# file system", "CephFS client capabilities"); see docs/ceph.md.
set -euo pipefail

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

BLUESTORE=0
OSD_SIZE=""
PORT=""
TENANTS=""
TIMEOUT=90
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bluestore) BLUESTORE=1 ;;
    --osd-size) OSD_SIZE=${2:?--osd-size needs a size}; shift ;;
    --port) PORT=${2:?--port needs a number}; shift ;;
    --tenants) TENANTS=${2:?--tenants needs a list}; shift ;;
    --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
    -h|--help) usage ;;
    -*) echo "ceph-up: unknown option $1" >&2; usage ;;
    *) [ -z "$DIR" ] || { echo "ceph-up: more than one DIR ($DIR, $1)" >&2; usage; }; DIR=$1 ;;
  esac
  shift
done
[ -n "$DIR" ] || usage
case "$TIMEOUT" in ''|*[!0-9]*) echo "ceph-up: --timeout wants whole seconds, got $TIMEOUT" >&2; exit 2 ;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
log() { echo "ceph-up: $*" >&2; }
die() { echo "ceph-up: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# 1. Debian packages (no daemon starts by itself on install).
pkgs=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse ceph-common libcephfs-dev librados-dev)
# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
ensure_packages "${pkgs[@]}"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF=$DIR/ceph.conf
MARK="# polytropon ceph-up cluster"
# Each ceph command gets CMD_TIMEOUT seconds (POLYTROPON_CEPH_CMD_TIMEOUT,
# default 20): under an emulated CPU (scripts/guest.sh) the CLI alone takes
# seconds to start.
CMD_TIMEOUT=${POLYTROPON_CEPH_CMD_TIMEOUT:-20}
ceph_() { timeout "$CMD_TIMEOUT" ceph -c "$CONF" --connect-timeout 10 "$@"; }

alive() { # pid file -> 0 if that process runs
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

healthy() {
  for d in mon.a mgr.x osd.0 mds.a; do alive "$DIR/run/$d.pid" || return 1; done
  ceph_ health 2>/dev/null | grep -q '^HEALTH_OK' || return 1
  ceph_ mds stat 2>/dev/null | grep -q 'up:active' || return 1
}

# tenant NAME: a key limited to /NAME of cephfs, and that directory.
tenant() {
  local t=$1
  case "$t" in ''|*[!A-Za-z0-9_-]*) die "bad tenant name '$t' (letters, digits, _ and - only)" ;; esac
  [ "$t" != admin ] || die "tenant name 'admin' is reserved"
  mkdir_admin "/$t"
  if ! ceph_ auth get "client.$t" >"$DIR/client.$t.keyring" 2>/dev/null; then
    ceph_ fs authorize cephfs "client.$t" "/$t" rw >"$DIR/client.$t.keyring"
  fi
  chmod 600 "$DIR/client.$t.keyring"
  log "tenant $t: key $DIR/client.$t.keyring, directory /$t"
}

# mkdir_admin PATH: create a directory of cephfs with the admin key, through
# libcephfs's Python binding (part of ceph-common's dependencies).
mkdir_admin() {
  timeout $((CMD_TIMEOUT + 10)) /usr/bin/python3 - "$CONF" "$1" <<'EOF' || die "cannot create directory $1 in cephfs"
import sys, cephfs
fs = cephfs.LibCephFS(conffile=sys.argv[1])
fs.conf_set("client_mount_timeout", "15")
fs.mount()
try:
    fs.mkdirs(sys.argv[2], 0o755)
except cephfs.ObjectExists:
    pass
fs.unmount()
fs.shutdown()
EOF
}

add_tenants() {
  local IFS=,
  for t in $TENANTS; do [ -z "$t" ] || tenant "$t"; done
}

# 2. An existing cluster: keep it when healthy, else rebuild.
if [ -f "$CONF" ]; then
  grep -qF "$MARK" "$CONF" || die "$CONF was not written by ceph-up.sh; refusing to touch $DIR"
  if healthy; then
    log "cluster in $DIR is already up and healthy"
    add_tenants
    echo "$CONF"
    exit 0
  fi
  log "cluster in $DIR is not healthy: tearing it down and rebuilding"
  "$HERE/ceph-down.sh" "$DIR" >&2 || die "could not tear down the old cluster in $DIR"
  mkdir -p "$DIR"
elif [ -n "$(ls -A "$DIR")" ]; then
  die "$DIR is not empty and holds no ceph-up cluster; give an empty or new directory"
fi

# Ports for the monitor (msgr2 and legacy msgr1): the first free pair, below
# the kernel's ephemeral range (ip_local_port_range), where no outgoing
# connection can take the port between this check and the monitor's bind.
# A port counts as used in any TCP state, not only when listening.
port_free() { ! ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }
if [ -z "$PORT" ]; then
  read -r EPHEMERAL_LO _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LO=32768
  BASE=$((EPHEMERAL_LO > 14000 ? EPHEMERAL_LO - 4400 : 10000))
  PORT=$((BASE + $(printf '%s' "$DIR" | cksum | cut -d' ' -f1) % 2000 * 2))
  for _ in $(seq 200); do
    port_free "$PORT" && port_free $((PORT + 1)) && break
    PORT=$((PORT + 2))
  done
fi
port_free "$PORT" && port_free $((PORT + 1)) || die "monitor ports $PORT/$((PORT + 1)) are in use; pick others with --port"

FSID=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$DIR"/{mon,mgr,osd,mds,log,run}

UP_OK=0
on_exit() {
  local rc=$?
  [ "$UP_OK" = 0 ] && [ "$rc" != 0 ] || return 0
  echo "ceph-up: error: bring-up failed (exit $rc)" >&2
  if [ -s "$DIR/run/mon.a.pid" ]; then
    echo "---- ceph health detail" >&2
    timeout 10 ceph -c "$CONF" --connect-timeout 5 health detail >&2 2>&1 || true
  fi
  echo "ceph-up: last log lines:" >&2
  for f in "$DIR"/log/*.log; do
    [ -f "$f" ] || continue
    echo "---- $f" >&2
    tail -n 8 "$f" >&2
  done
  echo "ceph-up: stopping what was started" >&2
  "$HERE/ceph-down.sh" "$DIR" >&2 || true
  exit "$rc"
}
trap on_exit EXIT

# memstore keeps objects in RAM, so its size is a memory budget.
if [ "$BLUESTORE" = 1 ]; then
  OBJECTSTORE="osd objectstore = bluestore
bluestore block path = $DIR/osd-block.img
bluestore block create = true
bluestore block size = $(numfmt --from=iec "${OSD_SIZE:-10G}")
bluestore fsck on mount = false
osd memory target = 1073741824"
else
  OBJECTSTORE="osd objectstore = memstore
memstore device bytes = $(numfmt --from=iec "${OSD_SIZE:-4G}")"
fi

cat >"$CONF" <<EOF
$MARK (scripts/ceph-up.sh); removed by scripts/ceph-down.sh
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$PORT,v1:127.0.0.1:$((PORT + 1))]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $DIR/\$name.keyring
log file = $DIR/log/\$name.log
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = $DIR/mon/\$id
admin socket = $DIR/run/\$name.asok
paxos propose interval = 0.1

[mgr]
mgr data = $DIR/mgr/\$id
admin socket = $DIR/run/\$name.asok
mgr initial modules = status

[osd]
osd data = $DIR/osd/\$id
admin socket = $DIR/run/\$name.asok
$OBJECTSTORE

[mds]
mds data = $DIR/mds/\$id
admin socket = $DIR/run/\$name.asok

[client]
log file = $DIR/log/\$name.log

[client.admin]
keyring = $DIR/keyring
EOF

# start NAME ARGS...: run a daemon in the foreground, detached from our
# session, with its pid recorded (ceph-down.sh stops it by that pid).
start() {
  local name=$1; shift
  setsid "$@" -f -c "$CONF" >>"$DIR/log/$name.out" 2>&1 </dev/null &
  echo $! >"$DIR/run/$name.pid"
}

# wait_for WHAT CMD...: retry CMD until it succeeds, at most TIMEOUT seconds.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "ceph-up: error: timed out after ${TIMEOUT}s waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

t0=$SECONDS
log "creating cluster $FSID in $DIR (monitor 127.0.0.1:$PORT)"

# 3. Monitor: keys for mon. and client.admin, a one-monitor map, mkfs.
ceph-authtool --create-keyring "$DIR/mon.a.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$DIR/mon.a.keyring" --import-keyring "$DIR/keyring" >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$PORT,v1:127.0.0.1:$((PORT + 1))]" "$DIR/monmap" >/dev/null
ceph-mon --mkfs -i a -c "$CONF" --monmap "$DIR/monmap" --keyring "$DIR/mon.a.keyring" >>"$DIR/log/mon.a.out" 2>&1
start mon.a ceph-mon -i a
wait_for "the monitor to answer" ceph_ mon stat

# 4. Manager (statfs and several commands need it).
ceph_ auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$DIR/mgr.x.keyring"
mkdir -p "$DIR/mgr/x"
start mgr.x ceph-mgr -i x

# 5. OSD: id, key (before mkfs), mkfs, start.
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph_ osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "expected osd id 0, got '$OSD_ID'"
ceph_ auth get-or-create osd.0 mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' -o "$DIR/osd.0.keyring"
mkdir -p "$DIR/osd/0"
ceph-osd -i 0 -c "$CONF" --mkfs --osd-uuid "$OSD_UUID" >>"$DIR/log/osd.0.out" 2>&1
start osd.0 ceph-osd -i 0

# 6. CephFS pools and file system, then the MDS.
ceph_ osd pool create cephfs_metadata 8 8 >/dev/null 2>&1
ceph_ osd pool create cephfs_data 8 8 >/dev/null 2>&1
ceph_ fs new cephfs cephfs_metadata cephfs_data >/dev/null 2>&1
ceph_ auth get-or-create mds.a mon 'allow profile mds' osd 'allow rwx' mds 'allow *' mgr 'allow profile mds' -o "$DIR/mds.a.keyring"
mkdir -p "$DIR/mds/a"
start mds.a ceph-mds -i a

# 7. Ready: an active MDS and HEALTH_OK.
wait_for "an active MDS (ceph mds stat: up:active)" sh -c "ceph -c '$CONF' --connect-timeout 5 mds stat | grep -q up:active"
wait_for "HEALTH_OK (ceph health)" sh -c "ceph -c '$CONF' --connect-timeout 5 health | grep -q '^HEALTH_OK'"
log "cluster up in $((SECONDS - t0))s: CEPH_CONF=$CONF"
add_tenants
UP_OK=1
echo "$CONF"
