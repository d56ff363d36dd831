#!/bin/busybox sh
# /init of the QEMU guest's initramfs: loads modules, picks the slot, mounts slot + state + ESP, switch_root.
#
# Slot choice, by boot path (the harness never decides):
#   grubenv  GRUB ran partition/grub/abupdate-ab.cfg and put abupdate.slot=A|B on the command line.
#   gptprio  no abupdate.slot: this script applies GRUB's gptprio.next rule with Debian's cgpt on
#            /dev/vda: among CoreOS-usr-typed partitions with priority > 0 and (tries > 0 or
#            successful), the highest priority wins, ties go to the lowest index; a try is spent
#            (cgpt add -T tries-1) BEFORE the slot is mounted.
# Every decision is printed as an "ABUPDATE-MARKER key=value ..." line on the console (ttyS0).

/bin/busybox mkdir -p /proc /sys /dev /run /newroot /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

USR_TYPE=5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6
DISK=/dev/vda

marker() { echo "ABUPDATE-MARKER $* uptime=$(cut -d" " -f1 /proc/uptime)"; }
fail() {
  marker "stage=initramfs error=$1"
  shift
  echo "abupdate-initramfs: $*"
  # Exiting PID 1 panics the kernel; with panic=1 it reboots, and the harness sees qemu exit.
  exit 1
}

while read -r module; do
  insmod "/lib/modules/${module}.ko" || fail insmod "cannot load module ${module}"
done < /lib/modules/load-order

slot=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    abupdate.slot=*) slot="${arg#abupdate.slot=}" ;;
  esac
done

n=0
while [ ! -b "$DISK" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
[ -b "$DISK" ] || fail no-disk "no $DISK after 10 s"

# partition_by_label LABEL: prints the partition number whose GPT name is LABEL (from sysfs uevent).
partition_by_label() {
  for uevent in /sys/class/block/vda[0-9]*/uevent; do
    if grep -qx "PARTNAME=$1" "$uevent"; then
      sed -n 's/^PARTN=//p' "$uevent"
      return 0
    fi
  done
  return 1
}

if [ -n "$slot" ]; then
  boot=grubenv
else
  boot=gptprio
  best=""
  best_prio=0
  for uevent in /sys/class/block/vda[0-9]*/uevent; do
    i=$(sed -n 's/^PARTN=//p' "$uevent")
    [ "$(cgpt show -i "$i" -t "$DISK")" = "$USR_TYPE" ] || continue
    p=$(cgpt show -i "$i" -P "$DISK")
    t=$(cgpt show -i "$i" -T "$DISK")
    s=$(cgpt show -i "$i" -S "$DISK")
    marker "stage=gptprio index=$i label=$(cgpt show -i "$i" -l "$DISK") priority=$p tries=$t successful=$s"
    if [ "$p" -gt 0 ] && { [ "$t" -gt 0 ] || [ "$s" = 1 ]; }; then
      if [ -z "$best" ] || [ "$p" -gt "$best_prio" ] || { [ "$p" -eq "$best_prio" ] && [ "$i" -lt "$best" ]; }; then
        best=$i
        best_prio=$p
      fi
    fi
  done
  [ -n "$best" ] || fail no-bootable-slot "gptprio: no usr partition has priority > 0 and tries or successful"
  label=$(cgpt show -i "$best" -l "$DISK")
  slot="${label#USR-}"
  t=$(cgpt show -i "$best" -T "$DISK")
  if [ "$t" -gt 0 ]; then
    cgpt add -i "$best" -T $((t - 1)) "$DISK" || fail cgpt "cannot spend a try of partition $best"
    sync
  fi
  marker "stage=gptprio chose=$slot index=$best tries-before=$t tries-after=$(cgpt show -i "$best" -T "$DISK") successful=$(cgpt show -i "$best" -S "$DISK")"
fi

case "$slot" in A | B) ;; *) fail bad-slot "slot \"$slot\" is not A or B" ;; esac
root_part=$(partition_by_label "USR-$slot") || fail no-slot-partition "no partition labelled USR-$slot"
state_part=$(partition_by_label STATE) || fail no-state-partition "no partition labelled STATE"
esp_part=$(partition_by_label ESP) || fail no-esp "no partition labelled ESP"

mount -t squashfs -o ro "${DISK}${root_part}" /newroot || fail mount-slot "cannot mount slot $slot (${DISK}${root_part})"
mount -t tmpfs -o mode=0755 tmpfs /newroot/run || fail mount-run "cannot mount /run"
mount -t ext4 -o rw "${DISK}${state_part}" /newroot/var || fail mount-state "cannot mount the state partition"
mount -t vfat -o rw "${DISK}${esp_part}" /newroot/boot || fail mount-esp "cannot mount the ESP"

ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || marker "stage=initramfs warning=no-network"

# The booted slot's boot-control state as the bootloader left it: good (committed) or trying.
if [ "$boot" = gptprio ]; then
  [ "$(cgpt show -i "$root_part" -S "$DISK")" = 1 ] && state=good || state=trying
else
  grep -qx "${slot}_OK=1" /newroot/boot/grub/grubenv && state=good || state=trying
fi

# What the slot's init needs to know about this boot.
{
  echo "GUEST_BOOTED_SLOT=$slot"
  echo "GUEST_BOOT_PATH=$boot"
  echo "GUEST_DISK=$DISK"
  echo "GUEST_SLOT_DEVICE=${DISK}${root_part}"
  echo "GUEST_SLOT_STATE=$state"
} > /newroot/run/guest-boot.env
marker "stage=initramfs boot=$boot slot=$slot state=$state device=${DISK}${root_part}"

mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
