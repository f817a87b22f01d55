#!/usr/bin/env bash
# Builds a Debian 12 root filesystem that boots systemd as PID 1 in a container, standing in for a
# freshly installed workstation. Usage: build-rootfs.sh ROOTFS MIRROR PACKAGES_FILE
set -euo pipefail
rootfs="$1" mirror="$2" packages_file="$3"

include="$(grep -vE '^\s*(#|$)' "$packages_file" | paste -sd, -)"
debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" >/dev/null

# Trust this machine's extra CA certificates: its package registries sit behind a TLS-inspecting
# gateway, and HTTPS (pip) inside the container fails without them.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

# A container has no consoles or kernel to tend: mask the units that would only fail or wait.
for unit in getty.target systemd-udevd.service systemd-udev-trigger.service \
  systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount \
  systemd-remount-fs.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
echo 'devserver-test' >"$rootfs/etc/hostname"
# Apt sources as on a fresh install, with the same mirror the image was built from.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
SOURCES
rm -rf "$rootfs"/var/cache/apt/archives/*.deb
