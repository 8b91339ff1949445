#!/usr/bin/env bash
# reproduce-host.sh: the recorded reproduction (docs/reproduction.md), on a
# quiet machine. Builds polytropon with Ceph support, brings up a one-node
# Ceph cluster for the -ceph variants, runs `polytropon reproduce -scale
# host` over every claim (runs go to $OUT, default
# /var/tmp/polytropon-reproduce; finished runs there are kept, so running
# this again resumes), writes docs/reproduction.md with its figures in
# docs/reproduction/, and takes the cluster down again.
#
#   bash scripts/reproduce-host.sh            # every figure
#   bash scripts/reproduce-host.sh 7a 9       # some figures (the report then holds only those)
#   CEPH=0 bash scripts/reproduce-host.sh     # local-backend files only (the -ceph variants reported as needing a cluster)
#   bin/polytropon reproduce -plan -scale host   # what it will run
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
OUT=${OUT:-/var/tmp/polytropon-reproduce}
mkdir -p bin "$OUT"
"$GO" build -tags "ceph pacific" -o bin/polytropon ./cmd/polytropon
make -s -C fs/preload
if [ "${CEPH:-1}" != 0 ]; then
  CEPH_DIR=${POLYTROPON_CEPH_DIR:-/tmp/polytropon-ceph-reproduce}
  cleanup() { scripts/ceph-down.sh "$CEPH_DIR" >/dev/null 2>&1 || true; }
  trap cleanup EXIT INT TERM
  scripts/ceph-up.sh "$CEPH_DIR"
  export POLYTROPON_CEPH_CONF="$CEPH_DIR/ceph.conf"
else
  unset POLYTROPON_CEPH_CONF CEPH_CONF
fi
bin/polytropon reproduce -scale host -out "$OUT" -publish docs/reproduction.md "$@"
