#!/usr/bin/env bash
# reproduce-host.sh: the recorded reproduction (docs/reproduction.md), on a
# quiet machine. Builds polytropon, prints the estimate
# (`polytropon reproduce -plan`), runs `polytropon reproduce -scale host`
# over every claim (runs go to $OUT, default /var/tmp/polytropon-reproduce;
# finished runs there are kept, so running this again resumes, and -plan
# then counts only what is left), and writes docs/reproduction.md with its
# figures in docs/reproduction/.
#
# What the report covers: on this kind of host (2 vCPUs, 24 GiB, no kernel
# CephFS) the local-backend variant of every figure (experiments/<fig>.toml
# at their host scale, sized so that the whole local set takes about an
# hour; the estimate says ~100 minutes). The Ceph variants (experiments/*-ceph.toml)
# need a Ceph cluster and, for K-ceph, K/K-ceph and F/K, the kernel CephFS
# client: they run on a testbed or in the guest (docs/testbed.md) with
# CEPH=1, which brings up a one-node cluster first; without it the report
# names them as not covered.
#
#   bash scripts/reproduce-host.sh            # every figure, local variants (this host)
#   bash scripts/reproduce-host.sh 7a 9       # some figures (the report then holds only those)
#   CEPH=1 bash scripts/reproduce-host.sh     # a testbed: the -ceph variants too
#   bin/polytropon reproduce -plan -scale host   # what it will run, and the estimate
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
OUT=${OUT:-/var/tmp/polytropon-reproduce}
mkdir -p bin "$OUT"
"$GO" build -tags "ceph pacific" -o bin/polytropon ./cmd/polytropon
make -s -C fs/preload
if [ "${CEPH:-0}" != 0 ]; then
  CEPH_DIR=${POLYTROPON_CEPH_DIR:-/tmp/polytropon-ceph-reproduce}
  cleanup() { scripts/ceph-down.sh "$CEPH_DIR" >/dev/null 2>&1 || true; }
  trap cleanup EXIT INT TERM
  scripts/ceph-up.sh "$CEPH_DIR"
  export POLYTROPON_CEPH_CONF="$CEPH_DIR/ceph.conf"
else
  unset POLYTROPON_CEPH_CONF CEPH_CONF
fi
bin/polytropon reproduce -plan -scale host -out "$OUT" "$@"
bin/polytropon reproduce -scale host -out "$OUT" -publish docs/reproduction.md "$@"
