// Mutation fuzz of readGpt/writeGpt: thousands of seeded random corruptions of headers, arrays and the
// MBR (CRCs sometimes fixed up so deeper checks run); only UpdaterErrors, and every repair reads back clean.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { makeTempDir } from '../fixtures/tmp.js';
import { makeSlotDisk, sgdiskVerify } from '../fixtures/disk.js';
import { openDisk } from './disk.js';
import { readGpt, writeGpt } from './gpt.js';
import { checkGptPartitions } from './gpt-entries.js';
import { isUpdaterError } from '../common/errors.js';
import { prng } from '../fixtures/prng.js';

const SS = 512;
const ITERATIONS = 2000;
const EXPECTED_CODES = new Set(['ERR_NOT_GPT', 'ERR_GPT_CRC', 'ERR_GPT_HEADER', 'ERR_GPT_ENTRIES', 'ERR_GPT_BOTH_CORRUPT', 'ERR_GPT_PARTITION_RANGE', 'ERR_GPT_OVERLAP', 'ERR_DISK_TRUNCATED', 'ERR_GPT_COPIES_DISAGREE']);


interface Image {
  head: Buffer; // LBA 0..33: MBR, primary header, primary array
  tail: Buffer; // last 33 LBAs: backup array, backup header
}

function fixHeaderCrc(sector: Buffer): void {
  const size = sector.readUInt32LE(0x0c);
  if (size < 92 || size > SS) return;
  sector.writeUInt32LE(0, 0x10);
  sector.writeUInt32LE(crc32(sector.subarray(0, size)), 0x10);
}

/** One random corruption of IMG (in memory). Returns a description for the failure message. */
function mutate(img: Image, rnd: () => number): string {
  const int = (n: number) => Math.floor(rnd() * n);
  const primaryHeader = img.head.subarray(SS, 2 * SS);
  const primaryArray = img.head.subarray(2 * SS, 34 * SS);
  const backupHeader = img.tail.subarray(32 * SS, 33 * SS);
  const backupArray = img.tail.subarray(0, 32 * SS);
  // one copy, the MBR, or both copies alike (so the table itself is wrong, not just one copy)
  const targets: Array<[string, Buffer[], number]> = [
    ['primary header', [primaryHeader], 92],
    ['backup header', [backupHeader], 92],
    ['primary array', [primaryArray], 4 * 128],
    ['backup array', [backupArray], 4 * 128],
    ['mbr', [img.head.subarray(0, SS)], SS],
    ['both headers', [primaryHeader, backupHeader], 92],
    ['both arrays', [primaryArray, backupArray], 4 * 128],
    ['both arrays', [primaryArray, backupArray], 4 * 128],
  ];
  const kind = int(5);
  const [name, bufs, span] = targets[int(targets.length)]!;
  const edits: string[] = [];
  const count = 1 + int(4);
  for (let i = 0; i < count; i++) {
    const at = int(span);
    const edges = [0n, 1n, 2n, 33n, 34n, 127n, 128n, 0xffffffffn, 0x7fffffffn, 0xffffffffffffffffn, BigInt(int(20000)), BigInt(int(1 << 30))];
    const value = edges[int(edges.length)]!;
    const wide = rnd() < 0.5;
    const bit = 1 << int(8);
    const byte = int(256);
    for (const buf of bufs) {
      if (kind === 0) {
        buf[at] = (buf[at] ?? 0) ^ bit;
      } else if (kind === 1) {
        buf[at] = byte;
      } else {
        // an edge value in a 4- or 8-byte field
        const off = at & ~3;
        if (off + 8 <= buf.length && wide) buf.writeBigUInt64LE(value, off);
        else if (off + 4 <= buf.length) buf.writeUInt32LE(Number(value & 0xffffffffn), off);
      }
    }
    edits.push(`${name}@${at}`);
  }
  // often make the CRCs right again so the checks behind them are reached
  if (kind >= 2 || rnd() < 0.3) {
    for (const [header, array] of [[primaryHeader, primaryArray], [backupHeader, backupArray]] as const) {
      header.writeUInt32LE(crc32(array.subarray(0, 128 * 128)), 0x58);
      fixHeaderCrc(header);
    }
    edits.push('crc fixed');
  }
  return `kind ${kind}: ${edits.join(', ')}`;
}

test(`readGpt() under ${ITERATIONS} seeded random corruptions throws only UpdaterErrors, and writeGpt() repairs what it reads`, async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { sizeMiB: 8, slotSizeMiB: 2, espSizeMiB: 1 });
  const file = await open(d.path, 'r+');
  t.after(() => file.close());
  const size = (await file.stat()).size;
  const tailAt = size - 33 * SS;
  const original: Image = { head: Buffer.alloc(34 * SS), tail: Buffer.alloc(33 * SS) };
  await file.read(original.head, 0, original.head.length, 0);
  await file.read(original.tail, 0, original.tail.length, tailAt);
  const rnd = prng(0xab0d);
  const codes = new Map<string, number>();
  let readOk = 0;
  let verified = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const img: Image = { head: Buffer.from(original.head), tail: Buffer.from(original.tail) };
    const what = mutate(img, rnd);
    await file.write(img.head, 0, img.head.length, 0);
    await file.write(img.tail, 0, img.tail.length, tailAt);
    const disk = await openDisk(d.path, { writable: true });
    try {
      const gpt = await readGpt(disk);
      readOk++;
      // what was read must itself be a sane table
      checkGptPartitions(gpt.partitions, { firstUsableLba: gpt.firstUsableLba, lastUsableLba: gpt.lastUsableLba } as never, 'primary');
      assert.ok(gpt.lastUsableLba < gpt.diskSectors, `iteration ${i} (${what}): usable range past the disk`);
      if (Object.keys(gpt.problems).length > 0 && verified < 10) {
        await writeGpt(disk, gpt);
        const again = await readGpt(disk);
        assert.deepEqual(again.problems, {}, `iteration ${i} (${what}): not repaired`);
        assert.deepEqual(again.partitions, gpt.partitions, `iteration ${i} (${what}): partitions changed by the repair`);
        const v = await sgdiskVerify(d.path);
        assert.ok(v.ok, `iteration ${i} (${what}): sgdisk -v after repair: ${v.output}`);
        verified++;
      }
    } catch (error) {
      if (!isUpdaterError(error)) throw new Error(`iteration ${i} (${what}): not an UpdaterError: ${String(error)}`, { cause: error });
      assert.ok(EXPECTED_CODES.has(error.code), `iteration ${i} (${what}): unexpected code ${error.code}: ${error.message}`);
      codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
    } finally {
      await disk.close();
    }
  }
  t.diagnostic(`read ok ${readOk}, repaired+verified ${verified}, refused ${JSON.stringify(Object.fromEntries(codes))}`);
  assert.ok(readOk > ITERATIONS / 4, 'most corruptions of one copy should still read from the other');
  assert.ok(verified >= 10, 'some repairs should have been checked with sgdisk -v');
  assert.ok(codes.size >= 3, `refusals should cover several codes: ${[...codes.keys()].join(', ')}`);
});
