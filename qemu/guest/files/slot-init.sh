#!/bin/busybox sh
# /sbin/init of a guest slot image: prints the boot marker, runs this boot's command, then powers off.
#
# The command comes from the harness through QEMU fw_cfg (opt/abupdate/run, a shell script), else from
# the slot's own /etc/abupdate/boot.sh (so a version can carry its behaviour, e.g. a failing health check).
# Markers on the console: "ABUPDATE-MARKER booted=A version=1.0.0 boot=grubenv state=good", then
# "ABUPDATE-MARKER run=start source=..." / "run=exit code=N", and "halt=poweroff" or "halt=reboot".

export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export HOME=/root
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/abupdate /var/lib/abupdate /var/log
. /run/guest-boot.env
export GUEST_BOOTED_SLOT GUEST_BOOT_PATH GUEST_DISK GUEST_SLOT_DEVICE GUEST_SLOT_STATE
GUEST_VERSION=$(cat /etc/abupdate-version)
export GUEST_VERSION

marker() { echo "ABUPDATE-MARKER $* uptime=$(cut -d" " -f1 /proc/uptime)"; }
marker "booted=$GUEST_BOOTED_SLOT version=$GUEST_VERSION boot=$GUEST_BOOT_PATH state=$GUEST_SLOT_STATE"

fwcfg=/sys/firmware/qemu_fw_cfg/by_name/opt/abupdate/run/raw
if [ -r "$fwcfg" ]; then
  cp "$fwcfg" /run/abupdate-run.sh
  source=fw_cfg
elif [ -r /etc/abupdate/boot.sh ]; then
  cp /etc/abupdate/boot.sh /run/abupdate-run.sh
  source=slot
else
  source=none
fi
if [ "$source" != none ]; then
  marker "run=start source=$source"
  sh /run/abupdate-run.sh
  marker "run=exit code=$?"
fi

sync
marker "halt=poweroff"
poweroff -f
sleep 60
