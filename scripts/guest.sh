#!/usr/bin/env bash
# guest.sh: run a command inside a guest VM with Debian's stock kernel (a
# cgroup-v2-only host with the kernel CephFS client), then power it off.
#
#   scripts/guest.sh [--timeout SECONDS] [--memory SIZE] [--cpus N]
#                    [--share DIR]... [--env NAME]... [--] COMMAND [ARG...]
#
# One call boots, runs COMMAND, powers off and cleans up; its exit status is
# COMMAND's. The guest is qemu under TCG (nested KVM does not work on the
# development VMs) with Debian's linux-image-6.1.0-*-amd64, fetched with
# apt-get download into /var/cache/polytropon/guest (POLYTROPON_GUEST_CACHE)
# and unpacked there, never installed on this host. It sees:
#
#   /             this host's root, read-only over virtio-9p, with a tmpfs
#                 overlay for writes (lost at power-off); /tmp, /run and
#                 /dev/shm are fresh tmpfs
#   /lib/modules  the kernel's own modules tree (modprobe ceph, fuse, ...)
#   --share DIR   host directory DIR read-write at the same path (results)
#   cgroup2       at /sys/fs/cgroup only: no v1 hierarchies
#   network       loopback only (-nic none): nothing leads out of the guest
#
# COMMAND runs under bash in the current directory with this host's PATH and
# HOME and the variables named with --env. Its output goes to the serial
# console, which is this script's standard output. A guest that crashes, or
# does not power off within --timeout (default 1200 s), is killed and
# reported (exit 124 on timeout, 125 when it stopped without a result). On
# exit, also on Ctrl-C, nothing is left: no qemu process and no temporary
# directory (the guest makes no mount and no loop device on the host).
set -euo pipefail

usage() {
  sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

TIMEOUT=1200
MEMORY=4G
CPUS=2
SHARES=()
ENVS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
    --memory) MEMORY=${2:?--memory needs a size}; shift ;;
    --cpus) CPUS=${2:?--cpus needs a number}; shift ;;
    --share) SHARES+=("${2:?--share needs a directory}"); shift ;;
    --env) ENVS+=("${2:?--env needs a variable name}"); shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "guest: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "guest: no command given" >&2; usage; }
case "$TIMEOUT" in ''|*[!0-9]*) echo "guest: --timeout wants whole seconds, got $TIMEOUT" >&2; exit 2 ;; esac
case "$CPUS" in ''|*[!0-9]*) echo "guest: --cpus wants a number, got $CPUS" >&2; exit 2 ;; esac

log() { echo "guest: $*" >&2; }
die() { echo "guest: error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (the guest shares this host's root filesystem)"

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
ensure_packages qemu-system-x86 busybox-static kmod cpio

for d in "${SHARES[@]}"; do
  [ -d "$d" ] || die "--share $d: not a directory"
done
for v in "${ENVS[@]}"; do
  case "$v" in ''|*[!A-Za-z0-9_]*|[0-9]*) die "--env $v: not a variable name" ;; esac
done

# 1. The kernel: the version linux-image-amd64 depends on, unpacked once.
CACHE=${POLYTROPON_GUEST_CACHE:-/var/cache/polytropon/guest}
mkdir -p "$CACHE"
PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
[ -n "$PKG" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-get update?)"
KVER=${PKG#linux-image-}
KDIR=$CACHE/$KVER
exec 9>"$CACHE/.lock"
flock 9 # one preparation at a time; concurrent guests share the result
if [ ! -f "$KDIR/ready" ]; then
  log "fetching and unpacking $PKG into $KDIR (once)"
  rm -rf "$KDIR"
  mkdir -p "$KDIR/deb"
  (cd "$KDIR/deb" && apt-get -o APT::Sandbox::User=root download "$PKG" >&2) || die "apt-get download $PKG failed"
  dpkg-deb -x "$KDIR"/deb/*.deb "$KDIR/root"
  depmod -b "$KDIR/root" "$KVER"
  touch "$KDIR/ready"
fi
MODROOT=$KDIR/root
VMLINUZ=$MODROOT/boot/vmlinuz-$KVER

# 2. The initramfs: busybox, the modules that mount the host's root, and an
# init that builds the guest's root, runs the command and powers off.
read -r -d '' INIT <<'EOF' || true
#!/bin/busybox sh
# init of the polytropon guest (written by scripts/guest.sh)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "guest init: $*" >/dev/console; poweroff -f; }
while read -r m; do insmod "/modules/$m" || fail "insmod $m"; done </modules/order
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
P9="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /ctl /lower /rw /newroot
mount -t 9p -o "$P9" ctl /ctl || fail "cannot mount the control share"
mount -t 9p -o "$P9,ro,cache=loose" hostroot /lower || fail "cannot mount the host root"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay"
R=/newroot
for d in proc sys dev tmp run; do mkdir -p "$R/$d"; done
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t tmpfs -o mode=0755 run $R/run
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "cgroup2"
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t bpf bpf $R/sys/fs/bpf 2>/dev/null
KVER=$(uname -r)
mkdir -p "$R/lib/modules/$KVER"
mount --bind "$R$(arg polytropon.modules)" "$R/lib/modules/$KVER" || fail "modules tree"
mkdir -p $R/run/polytropon-guest
mount --bind /ctl $R/run/polytropon-guest
while read -r tag dir; do
  mount -t 9p -o "$P9" "$tag" "$R$dir" || fail "cannot mount share $dir"
done </ctl/shares
hostname polytropon-guest
echo "127.0.1.1 polytropon-guest" >>$R/etc/hosts
echo polytropon-guest >$R/etc/hostname
ip link set lo up
echo "guest: up in $(cut -d' ' -f1 /proc/uptime) s (kernel $KVER)" >/dev/console
chroot $R /bin/bash /run/polytropon-guest/cmd </dev/null >/dev/console 2>&1
echo $? >/ctl/rc
while read -r tag dir; do umount "$R$dir"; done </ctl/shares
umount $R/run/polytropon-guest
sync
umount /ctl
poweroff -f
EOF
BUSYBOX=$(command -v busybox)
MODS=(virtio_pci 9pnet_virtio 9p overlay)
INITRD=$KDIR/initrd-$( (printf '%s\n' "$INIT" "${MODS[@]}"; cksum <"$BUSYBOX") | cksum | cut -d' ' -f1).img
if [ ! -f "$INITRD" ]; then
  log "building $INITRD"
  stage=$(mktemp -d "$KDIR/initrd.XXXXXX")
  mkdir -p "$stage"/{bin,proc,sys,dev,modules}
  cp "$BUSYBOX" "$stage/bin/busybox"
  printf '%s\n' "$INIT" >"$stage/init"
  chmod 755 "$stage/init"
  : >"$stage/modules/order"
  for m in "${MODS[@]}"; do
    modprobe -d "$MODROOT" -S "$KVER" --show-depends "$m" | while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      name=$(basename "$path")
      grep -qxF "$name" "$stage/modules/order" && continue
      cp "$path" "$stage/modules/$name"
      echo "$name" >>"$stage/modules/order"
    done
  done
  (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$stage"
fi
flock -u 9

# 3. The command, and the shares, in a control directory shared read-write.
CTL=$(mktemp -d /tmp/polytropon-guest.XXXXXX)
QPID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill -TERM "$QPID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$QPID" 2>/dev/null || true
    wait "$QPID" 2>/dev/null || true
  fi
  rm -rf "$CTL"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted: stopping the guest"; exit 130' INT TERM
{
  echo "# written by scripts/guest.sh"
  printf 'export PATH=%q HOME=%q POLYTROPON_GUEST=1\n' "$PATH" "${HOME:-/root}"
  for v in "${ENVS[@]}"; do
    if [ -n "${!v+x}" ]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
  done
  printf 'cd %q || exit 125\n' "$PWD"
  printf '%q ' "$@"
  echo
} >"$CTL/cmd"
VIRTFS=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$CTL,mount_tag=ctl,security_model=none")
: >"$CTL/shares"
i=0
for d in "${SHARES[@]}"; do
  d=$(cd "$d" && pwd)
  VIRTFS+=(-virtfs "local,path=$d,mount_tag=share$i,security_model=none,multidevs=remap")
  echo "share$i $d" >>"$CTL/shares"
  i=$((i + 1))
done

# 4. Boot. TCG: -enable-kvm does not work nested here (host-notes).
log "booting $KVER (TCG, $CPUS vCPUs, $MEMORY, no network), timeout ${TIMEOUT}s"
t0=$SECONDS
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -no-reboot \
  -accel tcg -cpu max -smp "$CPUS" -m "$MEMORY" -nic none -display none \
  -chardev stdio,id=con,signal=off -serial chardev:con \
  -kernel "$VMLINUZ" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init polytropon.modules=$MODROOT/lib/modules/$KVER" \
  "${VIRTFS[@]}" </dev/null &
QPID=$!
set +e
wait "$QPID"
qrc=$?
set -e
QPID=""
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  log "error: the guest did not power off within ${TIMEOUT}s: killed"
  exit 124
fi
if [ ! -s "$CTL/rc" ]; then
  log "error: the guest stopped after $((SECONDS - t0))s without a result (qemu exit $qrc: kernel panic, or init failed; see the console above)"
  exit 125
fi
rc=$(cat "$CTL/rc")
log "guest powered off after $((SECONDS - t0))s; command exit $rc"
exit "$rc"
