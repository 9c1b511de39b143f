#!/usr/bin/env bash
# Prepares the lab kernel that the IPVS and whole-LVS tests boot under QEMU (TCG), from Debian's
# own packages, into a cache folder of the project's (default .vipd-lab/kernel, or
# $VIPD_LAB_CACHE):
#
#   <cache>/<release>/vmlinuz            Debian's amd64 kernel (the package linux-image-amd64 depends on)
#   <cache>/<release>/modules/<release>/ its modules, indexed with depmod (the guest bind-mounts this
#                                        directory's parent on /lib/modules)
#   <cache>/<release>/initrd.gz          busybox-static + the virtio and 9p modules; its /init mounts
#                                        the host's / over virtio-9p and switch_roots into the run's init
#   <cache>/current                      a line "RELEASE", written last: the cache is complete
#
# Nothing is installed on the host: the packages are taken with `apt-get download` and unpacked with
# `dpkg -x`. Run again, it does nothing when <cache>/current names a complete release that is still
# the one Debian's linux-image-amd64 points at (or when the registry cannot be asked and the cache is
# complete; --offline asks nothing). Prints the release directory on stdout; everything else goes to
# stderr.
#
# Usage: scripts/lab-kernel.sh [--offline]
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cache=${VIPD_LAB_CACHE:-$root/.vipd-lab/kernel}
offline=${1:-}
say() { echo "lab-kernel: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# The initramfs needs these (and what they depend on): virtio-pci to see the 9p device, 9p to mount
# the host. The load order comes from modules.dep.
initrd_modules=(virtio_pci 9pnet_virtio 9p)

complete() { [[ -f $cache/$1/vmlinuz && -f $cache/$1/initrd.gz && -f $cache/$1/modules/$1/modules.dep ]]; }

cached=""
[[ -f $cache/current ]] && cached=$(<"$cache/current")

# Which kernel package linux-image-amd64 depends on now (e.g. linux-image-6.1.0-57-amd64).
wanted_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
package=""
[[ $offline == --offline ]] || package=$(wanted_package)
# A complete cache serves when it is what linux-image-amd64 points at, or when apt cannot say.
if [[ -n $cached ]] && complete "$cached" && [[ -z $package || $package == "linux-image-$cached" ]]; then
  echo "$cache/$cached"
  exit 0
fi
[[ $offline != --offline ]] || die "--offline, and no complete kernel is cached in $cache"

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The lists may be older than what the registry serves now: refresh them before downloading.
apt-get update -q >&2 || say "apt-get update failed; trying with the lists there are"
package=$(wanted_package)
[[ -n $package ]] || die "apt-cache depends linux-image-amd64 names no kernel package"
release=${package#linux-image-}
say "preparing $release in $cache"
(cd "$work" && apt-get download "$package" busybox-static >&2) ||
  die "apt-get download $package busybox-static failed"
dpkg -x "$work"/linux-image-*.deb "$work/kernel"
dpkg -x "$work"/busybox-static_*.deb "$work/busybox"

dest=$work/$release
mkdir -p "$dest/modules"
mv "$work/kernel/boot/vmlinuz-$release" "$dest/vmlinuz"
# usr-merged packages ship /usr/lib/modules, older ones /lib/modules.
moddir=$work/kernel/lib/modules/$release
[[ -d $moddir ]] || moddir=$work/kernel/usr/lib/modules/$release
[[ -d $moddir ]] || die "$package has no modules directory for $release"
mv "$moddir" "$dest/modules/$release"
# depmod -b wants BASE/lib/modules/RELEASE.
mkdir -p "$work/depmod/lib"
ln -s "$dest/modules" "$work/depmod/lib/modules"
depmod -b "$work/depmod" "$release" || die "depmod failed for $release"

initrd=$work/initrd
mkdir -p "$initrd"/{bin,dev,proc,sys,newroot,modules}
cp "$work/busybox/bin/busybox" "$initrd/bin/busybox"
# modules.dep lists a module's dependencies so that loading them from the last to the first works.
declare -A loaded=()
load_order=()
add_module() {
  local path=$1 line deps i
  [[ -n ${loaded[$path]:-} ]] && return
  loaded[$path]=1
  line=$(grep -m1 "^$path:" "$dest/modules/$release/modules.dep") || die "$path is not in modules.dep"
  read -r -a deps <<<"${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add_module "${deps[i]}"; done
  load_order+=("$path")
}
for m in "${initrd_modules[@]}"; do
  path=$(grep -m1 -o "^[^:]*/$m\.ko:" "$dest/modules/$release/modules.dep" || true)
  if [[ -z $path ]]; then
    # Built into this kernel: nothing to load.
    grep -q "/$m.ko\$" "$dest/modules/$release/modules.builtin" ||
      die "module $m is neither a module nor built into $release"
    continue
  fi
  add_module "${path%:}"
done
for path in "${load_order[@]}"; do
  cp "$dest/modules/$release/$path" "$initrd/modules/"
  basename "$path" .ko >>"$initrd/modules/order"
done
cat >"$initrd/init" <<'EOF'
#!/bin/busybox sh
# vipd lab initramfs (scripts/lab-kernel.sh): mount the host's / over virtio-9p, then hand over to
# the run's own init, whose path comes on the kernel command line as vipd_init=PATH.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
fail() { echo "@@VIPD-LAB-INITRD-FAIL $*@@"; echo o >/proc/sysrq-trigger; sleep 10; }
while read -r m; do insmod "/modules/$m.ko" || fail "insmod $m"; done </modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,access=any hostroot /newroot ||
  fail "mount 9p hostroot"
init=$(sed -n 's/.*vipd_init=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$init" ] && [ -x "/newroot$init" ] || fail "no vipd_init on the command line or not executable: $init"
umount /proc
umount /dev
exec switch_root /newroot "$init"
EOF
chmod 755 "$initrd/init"
(cd "$initrd" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$dest/initrd.gz"

rm -rf "${cache:?}/$release"
mv "$dest" "$cache/$release"
echo "$release" >"$cache/current"
# Older releases are of no further use.
for d in "$cache"/*/; do
  d=${d%/}
  [[ ${d##*/} == "$release" ]] || rm -rf "$d"
done
say "ready: $cache/$release"
echo "$cache/$release"
