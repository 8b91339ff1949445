#!/usr/bin/env bash
# test.sh: the full test suite, as CI runs it (README "Quickstart", command 2).
# Installs what it needs, checks formatting and vet, builds the preload
# library, brings up a real single-node Ceph cluster on 127.0.0.1 for the
# Ceph-tagged tests, runs every test, and tears the cluster down again, also
# when a test fails or the run is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/setup.sh | tail -n1)
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
TAGS="ceph pacific"

echo "== gofmt"
# The gofmt of the toolchain that builds (GOTOOLCHAIN may have switched it).
GOFMT="$("$GO" env GOROOT)/bin/gofmt"
bad=$("$GOFMT" -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go') 2>&1 || true)
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

echo "== patches"
# The regression gate's real check applies this patch to main (docs/ci.md):
# it must keep applying as the service changes.
git apply --check scripts/ab-slowdown.patch

echo "== go vet"
"$GO" vet ./...
"$GO" vet -tags "$TAGS" ./...

if [ -f fs/preload/Makefile ]; then
  echo "== preload library"
  make -s -C fs/preload
fi

CEPH_DIR=${POLYTROPON_CEPH_DIR:-/tmp/polytropon-ceph-test}
cleanup() {
  if [ -x scripts/ceph-down.sh ]; then scripts/ceph-down.sh "$CEPH_DIR" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT INT TERM
if [ -x scripts/ceph-up.sh ]; then
  echo "== ceph up"
  scripts/ceph-up.sh "$CEPH_DIR"
  export POLYTROPON_CEPH_CONF="$CEPH_DIR/ceph.conf"
fi

echo "== go test"
"$GO" test -tags "$TAGS" -count=1 -timeout 40m ./... 2>&1

echo "== go test -race (the shared-memory protocol's in-process tests)"
# Service and client sides of the queues and buffers run in one process
# here, so the race detector sees both (-short: fewer items per stress mix).
"$GO" test -race -short -count=1 -timeout 10m ./fs/back ./fs/wire ./fs/front ./fs/cache ./ipc/queue 2>&1

echo "== guest"
# One boot of a Debian-kernel guest (cgroup v2 only, kernel CephFS) running
# the tests this kernel cannot: docs/testbed.md.
GO="$GO" scripts/guest-test.sh
