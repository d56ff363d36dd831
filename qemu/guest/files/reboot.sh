#!/bin/busybox sh
# /sbin/reboot of a guest slot: says so on the console (the harness restarts qemu, run with -no-reboot), then reboots.
echo "ABUPDATE-MARKER halt=reboot by=$$ args=$*"
sync
exec /bin/busybox reboot -f
