#!/bin/busybox sh
# /sbin/reboot of a guest slot: says so on the console (the harness restarts qemu, run with -no-reboot), then reboots.
# Written to /dev/console, not stdout: the caller (abupdate's REBOOT_COMMAND) may capture stdout.
echo "ABUPDATE-MARKER halt=reboot by=$PPID args=$*" > /dev/console
sync
exec /bin/busybox reboot -f
