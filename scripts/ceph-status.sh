#!/usr/bin/env bash
# ceph-status.sh: report on the cluster scripts/ceph-up.sh started in DIR:
# the daemons' pids (running or not) and `ceph -s`. Exit 0 when every daemon
# runs and the cluster says HEALTH_OK, 1 otherwise, 2 when DIR holds no
# cluster.
#
#   scripts/ceph-status.sh DIR
set -uo pipefail
DIR=${1:?usage: ceph-status.sh DIR}
CONF=$DIR/ceph.conf
[ -f "$CONF" ] || { echo "ceph-status: no cluster in $DIR (no ceph.conf)" >&2; exit 2; }
rc=0
for d in mon.a mgr.x osd.0 mds.a; do
  f=$DIR/run/$d.pid
  if [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    echo "$d: running (pid $(cat "$f"))"
  else
    echo "$d: not running"
    rc=1
  fi
done
echo "CEPH_CONF=$CONF"
for k in "$DIR"/client.*.keyring; do [ -f "$k" ] && echo "tenant key: $k"; done
if ! out=$(timeout 20 ceph -c "$CONF" --connect-timeout 10 -s 2>&1); then
  echo "$out"
  exit 1
fi
echo "$out"
echo "$out" | grep -q 'HEALTH_OK' || rc=1
exit $rc
