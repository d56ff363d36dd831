// Tests of detectBootedSlot(): override, kernel command line, root device via /dev links and sysfs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { detectBootedSlot, mountedRootSource, parseCmdline } from './booted.js';
import type { Slot, Slots } from './slots.js';
import { isUpdaterError } from '../common/errors.js';

const slot = (name: 'A' | 'B', partition: number, uuid: string, label: string): Slot => ({
  name, partition, uuid, label, typeGuid: '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6', firstLba: 0n, lastLba: 0n, offset: 0, size: 0,
});
const SLOTS: Slots = {
  A: slot('A', 3, '7130C94A-213A-4E5A-8E26-6CCE9662F132', 'USR-A'),
  B: slot('B', 4, 'E03DD35C-7C2D-4A47-B3FE-27F15780A57C', 'USR-B'),
};

async function cmdline(dir: string, text: string): Promise<string> {
  const file = `${dir}/cmdline-${Math.random().toString(16).slice(2)}`;
  await writeFile(file, `${text}\n`);
  return file;
}

const noRoot = () => undefined;

test('parseCmdline() splits key=value words and stops at "--"', () => {
  assert.deepEqual(parseCmdline('ro root=PARTUUID=abc quiet abupdate.slot=B -- abupdate.slot=A\n'), [
    ['root', 'PARTUUID=abc'],
    ['abupdate.slot', 'B'],
  ]);
});

test('detectBootedSlot() takes --booted when the kernel agrees and refuses a bad value with ERR_USAGE', async (t) => {
  const dir = await makeTempDir(t);
  const file = await cmdline(dir, 'abupdate.slot=B');
  assert.deepEqual(await detectBootedSlot(SLOTS, { override: 'B', cmdlinePath: file, rootDevice: noRoot }), { slot: 'B', source: 'override', detail: '--booted B' });
  await assert.rejects(detectBootedSlot(SLOTS, { override: 'C', cmdlinePath: file }), (e: unknown) => isUpdaterError(e, 'ERR_USAGE'));
});

test('detectBootedSlot() reads abupdate.slot=, then root=/usr=/mount.usr= PARTUUID or PARTLABEL', async (t) => {
  const dir = await makeTempDir(t);
  const cases: [string, 'A' | 'B', string][] = [
    ['console=ttyS0 abupdate.slot=B root=PARTUUID=e03dd35c-7c2d-4a47-b3fe-27f15780a57c', 'B', 'abupdate.slot=B'],
    ['root=PARTUUID=e03dd35c-7c2d-4a47-b3fe-27f15780a57c ro', 'B', 'root=PARTUUID=e03dd35c-7c2d-4a47-b3fe-27f15780a57c'],
    ['root=LABEL=ROOT mount.usr=PARTUUID=7130C94A-213A-4E5A-8E26-6CCE9662F132', 'A', 'mount.usr=PARTUUID=7130C94A-213A-4E5A-8E26-6CCE9662F132'],
    ['usr=PARTLABEL=USR-B', 'B', 'usr=PARTLABEL=USR-B'],
    ['root=/dev/disk/by-partuuid/7130c94a-213a-4e5a-8e26-6cce9662f132', 'A', 'root=/dev/disk/by-partuuid/7130c94a-213a-4e5a-8e26-6cce9662f132'],
  ];
  for (const [text, expected, detail] of cases) {
    const found = await detectBootedSlot(SLOTS, { cmdlinePath: await cmdline(dir, text), rootDevice: noRoot });
    assert.deepEqual(found, { slot: expected, source: 'cmdline', detail }, text);
  }
});

test('detectBootedSlot() maps the root device through /dev/disk/by-partuuid, or sysfs partition number and PARTNAME', async (t) => {
  const dir = await makeTempDir(t);
  const dev = `${dir}/dev`;
  const sys = `${dir}/sys`;
  await mkdir(`${dev}/disk/by-partuuid`, { recursive: true });
  await writeFile(`${dev}/vda3`, '');
  await writeFile(`${dev}/vda4`, '');
  await symlink('../../vda3', `${dev}/disk/by-partuuid/7130c94a-213a-4e5a-8e26-6cce9662f132`);
  const empty = await cmdline(dir, 'console=ttyS0');
  assert.deepEqual(await detectBootedSlot(SLOTS, { cmdlinePath: empty, devRoot: dev, sysfsRoot: sys, rootDevice: () => `${dev}/vda3` }), {
    slot: 'A', source: 'root-device', detail: `${dev}/vda3`,
  });
  // no by-partuuid link for vda4: sysfs says partition 4 of vda, named USR-B
  await mkdir(`${sys}/devices/virtio/block/vda/vda4`, { recursive: true });
  await mkdir(`${sys}/class/block`, { recursive: true });
  await writeFile(`${sys}/devices/virtio/block/vda/vda4/partition`, '4\n');
  await writeFile(`${sys}/devices/virtio/block/vda/vda4/uevent`, 'MAJOR=254\nMINOR=4\nDEVNAME=vda4\nDEVTYPE=partition\nPARTN=4\nPARTNAME=USR-B\n');
  await symlink('../../devices/virtio/block/vda/vda4', `${sys}/class/block/vda4`);
  assert.equal((await detectBootedSlot(SLOTS, { cmdlinePath: empty, devRoot: dev, sysfsRoot: sys, rootDevice: () => `${dev}/vda4` })).slot, 'B');
  // partition 4 with another name on a disk that is not --disk: not a slot
  await writeFile(`${sys}/devices/virtio/block/vda/vda4/uevent`, 'PARTN=4\nPARTNAME=DATA\n');
  await assert.rejects(
    detectBootedSlot(SLOTS, { cmdlinePath: empty, devRoot: dev, sysfsRoot: sys, rootDevice: () => `${dev}/vda4`, diskPath: `${dev}/vdb` }),
    (e: unknown) => isUpdaterError(e, 'ERR_BOOTED_UNKNOWN'),
  );
  // ... but on --disk itself the partition number decides
  await writeFile(`${dev}/vda`, '');
  assert.equal((await detectBootedSlot(SLOTS, { cmdlinePath: empty, devRoot: dev, sysfsRoot: sys, rootDevice: () => `${dev}/vda4`, diskPath: `${dev}/vda` })).slot, 'B');
});

test('detectBootedSlot() on this host (no slot in /proc/cmdline, root not a slot) throws ERR_BOOTED_UNKNOWN with a --booted hint', async () => {
  await assert.rejects(detectBootedSlot(SLOTS), (e: unknown) => {
    assert.ok(isUpdaterError(e, 'ERR_BOOTED_UNKNOWN'), String(e));
    assert.match(e.hint ?? '', /--booted/);
    return true;
  });
});

// Issue 11 item 1: the kernel's last word wins, Flatcar's verity words are understood, and --booted is checked
// against what the kernel says.
const A_UUID = '7130c94a-213a-4e5a-8e26-6cce9662f132';
const B_UUID = 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c';

test('detectBootedSlot() takes the LAST root=/mount.usr=/usr= as the kernel and systemd do', async (t) => {
  const dir = await makeTempDir(t);
  const cases: [string, 'A' | 'B'][] = [
    [`root=PARTUUID=${A_UUID} ro root=PARTUUID=${B_UUID}`, 'B'],
    [`root=PARTLABEL=USR-B quiet root=PARTLABEL=USR-A`, 'A'],
    [`mount.usr=PARTLABEL=USR-A mount.usr=PARTUUID=${B_UUID}`, 'B'],
    [`usr=PARTLABEL=USR-B usr=PARTLABEL=USR-A`, 'A'],
    [`"root=PARTUUID=${A_UUID}" root="PARTUUID=${B_UUID}"`, 'B'],
  ];
  for (const [text, expected] of cases) {
    const found = await detectBootedSlot(SLOTS, { cmdlinePath: await cmdline(dir, text), rootDevice: noRoot });
    assert.equal(found.slot, expected, text);
    assert.equal(found.source, 'cmdline', text);
  }
});

test("detectBootedSlot() reads Flatcar's mount.usr=/dev/mapper/usr verity.usr=PARTUUID=<uuid>", async (t) => {
  const dir = await makeTempDir(t);
  const text = `BOOT_IMAGE=/flatcar/vmlinuz-b mount.usr=/dev/mapper/usr verity.usr=PARTUUID=${B_UUID} rootflags=rw mount.usrflags=ro root=LABEL=ROOT verity.usrhash=abc123`;
  const found = await detectBootedSlot(SLOTS, { cmdlinePath: await cmdline(dir, text), rootDevice: noRoot });
  assert.deepEqual(found, { slot: 'B', source: 'cmdline', detail: `verity.usr=PARTUUID=${B_UUID}` });
  // and the last verity.usr= wins too
  const twice = await detectBootedSlot(SLOTS, { cmdlinePath: await cmdline(dir, `${text} verity.usr=PARTUUID=${A_UUID}`), rootDevice: noRoot });
  assert.equal(twice.slot, 'A');
});

test('detectBootedSlot() refuses kernel words that name both slots with ERR_BOOTED_CONFLICT', async (t) => {
  const dir = await makeTempDir(t);
  for (const text of [`root=PARTUUID=${A_UUID} mount.usr=PARTUUID=${B_UUID}`, `abupdate.slot=B root=PARTLABEL=USR-A`, `mount.usr=/dev/mapper/usr verity.usr=PARTUUID=${A_UUID} root=PARTLABEL=USR-B`]) {
    await assert.rejects(detectBootedSlot(SLOTS, { cmdlinePath: await cmdline(dir, text), rootDevice: noRoot }), (e: unknown) => {
      assert.ok(isUpdaterError(e, 'ERR_BOOTED_CONFLICT'), `${text}: ${String(e)}`);
      return true;
    });
  }
});

test('detectBootedSlot() checks --booted against the kernel: a disagreement is ERR_BOOTED_MISMATCH, agreement or silence passes', async (t) => {
  const dir = await makeTempDir(t);
  const flatcar = await cmdline(dir, `mount.usr=/dev/mapper/usr verity.usr=PARTUUID=${A_UUID}`);
  await assert.rejects(detectBootedSlot(SLOTS, { override: 'B', cmdlinePath: flatcar, rootDevice: noRoot }), (e: unknown) => {
    assert.ok(isUpdaterError(e, 'ERR_BOOTED_MISMATCH'), String(e));
    assert.match(e.message, /--booted B/);
    assert.match(e.message, /verity\.usr=PARTUUID=/);
    return true;
  });
  assert.deepEqual(await detectBootedSlot(SLOTS, { override: 'A', cmdlinePath: flatcar, rootDevice: noRoot }), { slot: 'A', source: 'override', detail: '--booted A' });
  const silent = await cmdline(dir, 'console=ttyS0 root=LABEL=ROOT');
  assert.equal((await detectBootedSlot(SLOTS, { override: 'B', cmdlinePath: silent, rootDevice: noRoot })).slot, 'B');
});

test('detectBootedSlot() resolves root=/dev/NAME and dm devices (mount.usr=/dev/mapper/usr) through sysfs to the partition under them', async (t) => {
  const dir = await makeTempDir(t);
  const dev = `${dir}/dev`;
  const sys = `${dir}/sys`;
  await mkdir(`${dev}/mapper`, { recursive: true });
  await writeFile(`${dev}/vda`, '');
  await writeFile(`${dev}/vda4`, '');
  await writeFile(`${dev}/dm-0`, '');
  await symlink('../dm-0', `${dev}/mapper/usr`);
  await mkdir(`${sys}/devices/virtio/block/vda/vda4`, { recursive: true });
  await mkdir(`${sys}/devices/virtual/block/dm-0/slaves`, { recursive: true });
  await mkdir(`${sys}/class/block`, { recursive: true });
  await writeFile(`${sys}/devices/virtio/block/vda/vda4/partition`, '4\n');
  await writeFile(`${sys}/devices/virtio/block/vda/vda4/uevent`, 'PARTN=4\nPARTNAME=USR-B\n');
  await symlink('../../devices/virtio/block/vda/vda4', `${sys}/class/block/vda4`);
  await symlink('../../devices/virtual/block/dm-0', `${sys}/class/block/dm-0`);
  await symlink('../../../../virtio/block/vda/vda4', `${sys}/devices/virtual/block/dm-0/slaves/vda4`);
  const opts = { devRoot: dev, sysfsRoot: sys, rootDevice: noRoot, diskPath: `${dev}/vda` };
  const plain = await detectBootedSlot(SLOTS, { ...opts, cmdlinePath: await cmdline(dir, 'root=/dev/vda4') });
  assert.deepEqual([plain.slot, plain.detail], ['B', 'root=/dev/vda4']);
  const mapped = await detectBootedSlot(SLOTS, { ...opts, cmdlinePath: await cmdline(dir, 'mount.usr=/dev/mapper/usr root=LABEL=ROOT') });
  assert.deepEqual([mapped.slot, mapped.detail], ['B', 'mount.usr=/dev/mapper/usr']);
  await assert.rejects(detectBootedSlot(SLOTS, { ...opts, cmdlinePath: await cmdline(dir, `mount.usr=/dev/mapper/usr verity.usr=PARTUUID=${A_UUID}`) }), (e: unknown) =>
    isUpdaterError(e, 'ERR_BOOTED_CONFLICT'),
  );
});

test('detectBootedSlot() cross-checks the mounted root device against the command line', async (t) => {
  const dir = await makeTempDir(t);
  const dev = `${dir}/dev`;
  await mkdir(`${dev}/disk/by-partuuid`, { recursive: true });
  await writeFile(`${dev}/vda3`, '');
  await symlink('../../vda3', `${dev}/disk/by-partuuid/${A_UUID}`);
  await assert.rejects(
    detectBootedSlot(SLOTS, { cmdlinePath: await cmdline(dir, 'root=PARTLABEL=USR-B'), devRoot: dev, sysfsRoot: `${dir}/sys`, rootDevice: () => `${dev}/vda3` }),
    (e: unknown) => isUpdaterError(e, 'ERR_BOOTED_CONFLICT'),
  );
  await assert.rejects(detectBootedSlot(SLOTS, { override: 'B', cmdlinePath: await cmdline(dir, ''), devRoot: dev, sysfsRoot: `${dir}/sys`, rootDevice: () => `${dev}/vda3` }), (e: unknown) =>
    isUpdaterError(e, 'ERR_BOOTED_MISMATCH'),
  );
});

test('parseCmdline() splits words as the kernel does: quotes may hold spaces, quotes around the value or the word are dropped', () => {
  assert.deepEqual(parseCmdline('a="b c" "d=e f" g=h"i" -- x=y'), [
    ['a', 'b c'],
    ['d', 'e f'],
    ['g', 'h"i"'],
  ]);
});

test('mountedRootSource() takes the source of the last mount on / from mountinfo, optional fields and escapes included', () => {
  const mountinfo = [
    '1 1 0:2 / / rw - rootfs rootfs rw',
    '22 1 8:4 / / ro,relatime shared:1 master:2 - ext4 /dev/sda4 ro',
    '23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw',
    '24 22 8:9 / /media/a\\040b rw - ext4 /dev/sda9 rw',
    '',
  ].join('\n');
  assert.equal(mountedRootSource(mountinfo), '/dev/sda4');
  assert.equal(mountedRootSource('30 1 8:1 / / rw - ext4 /dev/disk\\040x rw\n'), '/dev/disk x');
  assert.equal(mountedRootSource('23 22 0:21 / /proc rw - proc proc rw\n'), undefined);
  assert.equal(mountedRootSource(''), undefined);
});

test('mountedRootSource() of this machine\'s /proc/self/mountinfo names what df says is mounted at /', async () => {
  const df = await execa('df', ['-P', '/']);
  const line = df.stdout.split('\n')[1] ?? '';
  assert.equal(mountedRootSource(readFileSync('/proc/self/mountinfo', 'utf8')), line.split(/\s+/)[0]);
});
