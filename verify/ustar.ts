// Decodes one 512-byte POSIX ustar header with bounds and type checks: only plain regular files pass.

import { UpdaterError } from '../common/errors.js';
import { TAR_BLOCK } from './layout.js';

export interface UstarMember {
  name: string;
  size: number;
  /** The header's offset in the bundle, for messages. */
  offset: number;
}

// Field offsets and lengths of the ustar header (POSIX.1-1988, pax "ustar Interchange Format").
const NAME = [0, 100] as const; //          name
const SIZE = [124, 12] as const; //         size (octal)
const CHKSUM = [148, 8] as const; //        chksum (octal, computed with this field as spaces)
const TYPEFLAG = 156; //                    typeflag
const LINKNAME = [157, 100] as const; //    linkname
const MAGIC = [257, 6] as const; //         magic "ustar\0"
const VERSION = [263, 2] as const; //       version "00"
const PREFIX = [345, 155] as const; //      prefix

const TYPE_NAMES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '5': 'directory',
  '6': 'FIFO',
  '7': 'contiguous file',
  x: 'pax extended header',
  g: 'pax global header',
  L: 'GNU long name',
  K: 'GNU long link name',
};

function tarError(offset: number, why: string, reason: string): UpdaterError {
  return new UpdaterError('ERR_BUNDLE_TAR', `Cannot read bundle: the tar header at byte ${offset} ${why}`, { data: { offset, reason } });
}

function memberError(offset: number, why: string, reason: string, name?: string): UpdaterError {
  return new UpdaterError('ERR_BUNDLE_MEMBER', `Cannot read bundle: the member at byte ${offset} ${why}`, {
    data: { offset, reason, ...(name === undefined ? {} : { name }) },
    hint: 'A bundle holds exactly manifest.json, manifest.json.sig and image, as plain files (see docs/bundle-format.md).',
  });
}

/** Strict octal: digits 0-7, then only NUL or space terminators; undefined when malformed. */
export function parseOctal(block: Uint8Array, start: number, length: number): number | undefined {
  let value = 0;
  let digits = 0;
  let i = start;
  const end = start + length;
  for (; i < end; i++) {
    const c = block[i] ?? 0;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return undefined;
  for (; i < end; i++) {
    const c = block[i] ?? 0;
    if (c !== 0 && c !== 0x20) return undefined;
  }
  return Number.isSafeInteger(value) ? value : undefined;
}

function allZero(block: Uint8Array, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) if (block[i] !== 0) return false;
  return true;
}

export function isZeroBlock(block: Uint8Array): boolean {
  return allZero(block, 0, block.length);
}

/** The header checksum: the byte sum with the chksum field counted as eight spaces. */
export function ustarChecksum(block: Uint8Array): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < CHKSUM[0]; i++) sum += block[i] ?? 0;
  for (let i = CHKSUM[0] + CHKSUM[1]; i < TAR_BLOCK; i++) sum += block[i] ?? 0;
  return sum;
}

function checkName(block: Uint8Array, offset: number): string {
  let end = NAME[0];
  while (end < NAME[0] + NAME[1] && block[end] !== 0) end++;
  const raw = Buffer.from(block.subarray(NAME[0], end));
  const name = raw.toString('latin1');
  const shown = JSON.stringify(name.slice(0, 100));
  if (!allZero(block, end, NAME[0] + NAME[1] - end)) throw memberError(offset, `has a NUL byte inside its name ${shown}`, 'nul', name);
  if (name === '') throw memberError(offset, 'has an empty name', 'empty-name');
  if (name.startsWith('/')) throw memberError(offset, `has the absolute name ${shown}`, 'absolute', name);
  if (name.split('/').includes('..')) throw memberError(offset, `has the name ${shown}, which contains ".."`, 'dotdot', name);
  if (name.includes('/')) throw memberError(offset, `has the name ${shown}, which contains "/"`, 'slash', name);
  if (!allZero(block, PREFIX[0], PREFIX[1])) throw memberError(offset, `has a ustar prefix, which makes ${shown} a path`, 'prefix', name);
  return name;
}

/** Decodes the header at bundle offset `offset`: a regular file with a plain name, or a typed error. */
export function parseUstarHeader(block: Uint8Array, offset: number): UstarMember {
  if (block.length !== TAR_BLOCK) throw tarError(offset, `is ${block.length} bytes, not ${TAR_BLOCK}`, 'short');
  if (isZeroBlock(block)) throw memberError(offset, 'is missing: the archive ends here', 'missing');
  const stored = parseOctal(block, CHKSUM[0], CHKSUM[1]);
  const computed = ustarChecksum(block);
  if (stored !== computed) throw tarError(offset, `has checksum ${stored ?? 'unreadable'}, but its bytes sum to ${computed}`, 'checksum');
  const magic = Buffer.from(block.subarray(MAGIC[0], MAGIC[0] + MAGIC[1] + VERSION[1]));
  if (!magic.equals(Buffer.from('ustar\u000000', 'latin1'))) {
    throw tarError(offset, `is not POSIX ustar (magic ${JSON.stringify(magic.toString('latin1'))})`, 'magic');
  }
  const flag = String.fromCharCode(block[TYPEFLAG] ?? 0);
  if (flag !== '0' && flag !== '\u0000') {
    const kind = TYPE_NAMES[flag] ?? `type ${JSON.stringify(flag)}`;
    throw memberError(offset, `is a ${kind}, not a regular file`, flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K' ? 'extended-header' : 'type');
  }
  if (!allZero(block, LINKNAME[0], LINKNAME[1])) throw memberError(offset, 'names a link target', 'link');
  const name = checkName(block, offset);
  if ((block[SIZE[0]] ?? 0) & 0x80) throw tarError(offset, 'has a base-256 size, which ustar does not allow', 'size-base256');
  const size = parseOctal(block, SIZE[0], SIZE[1]);
  if (size === undefined) throw tarError(offset, 'has an unreadable size field', 'size');
  return { name, size, offset };
}
