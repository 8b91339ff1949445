#!/usr/bin/env bash
# setup.sh: install everything Polytropon needs on Debian 12, as root.
# Idempotent; safe to run before every job. Prints the Go binary to use on
# its last line (so callers can do: GO=$(scripts/setup.sh | tail -n1)).
set -euo pipefail

log() { echo "setup: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: must run as root (pools need cgroups, namespaces, mounts)" >&2
  exit 1
fi

# Debian packages: toolchain pieces, FUSE, Ceph, the real workloads, tracing.
# libcephfs-dev and librados-dev are what the complete build (Makefile, tags
# "ceph pacific": go-ceph over cgo) links against.
pkgs=(
  build-essential pkg-config git ca-certificates curl
  fuse3 unionfs-fuse fuse-overlayfs e2fsprogs util-linux iproute2 procps psmisc
  ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse ceph-common libcephfs-dev librados-dev
  rocksdb-tools stress-ng sysbench lighttpd fio sqlite3 tar
  bpftrace linux-perf
)
# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
ensure_packages "${pkgs[@]}"

# Go: the module wants go 1.26. Use /usr/local/go or a go on PATH when it is
# new enough to fetch the right toolchain itself (>= 1.21, GOTOOLCHAIN=auto);
# otherwise install Go 1.23 from bookworm-backports, which then downloads the
# 1.26 toolchain through the Go module proxy.
find_go() {
  for g in /usr/local/go/bin/go "$(command -v go 2>/dev/null || true)" /usr/lib/go-1.23/bin/go; do
    [ -n "$g" ] && [ -x "$g" ] || continue
    v=$("$g" env GOVERSION 2>/dev/null | sed 's/^go//') || continue
    minor=$(echo "$v" | cut -d. -f2)
    [ "${minor:-0}" -ge 21 ] && { echo "$g"; return 0; }
  done
  return 1
}
if ! GO=$(find_go); then
  log "no Go >= 1.21 found; installing golang-1.23-go from bookworm-backports"
  echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/polytropon-backports.list
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq -t bookworm-backports golang-1.23-go >&2
  GO=$(find_go)
fi

cd "$(dirname "$0")/.."
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod
"$GO" mod download >&2
"$GO" version >&2

# Kernel interfaces the harness uses.
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
[ -e /dev/fuse ] || log "warning: /dev/fuse missing, FUSE systems will be skipped"
echo "$GO"
