// GPT GUIDs: the mixed-endian 16-byte on-disk form and the text form, plus the type GUIDs abupdate knows.

import { UpdaterError } from '../common/errors.js';

/** CoreOS/Flatcar usr partition type (GRUB's GRUB_GPT_PARTITION_TYPE_USR_X86_64). */
export const COREOS_USR_TYPE_GUID = '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6';
export const EFI_SYSTEM_TYPE_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const LINUX_DATA_TYPE_GUID = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';

const GUID_TEXT = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i;

/** Reads a GUID stored on disk: the first three fields little-endian, the last two as bytes. */
export function decodeGuid(bytes: Uint8Array, offset = 0): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset + offset, 16);
  const hex = (start: number, end: number, reverse: boolean): string => {
    const part = Buffer.from(b.subarray(start, end));
    if (reverse) part.reverse();
    return part.toString('hex');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-').toUpperCase();
}

/** The 16 on-disk bytes of a GUID given as text (any case). */
export function encodeGuid(text: string): Buffer {
  if (!GUID_TEXT.test(text)) throw new UpdaterError('ERR_USAGE', `Cannot use "${text}" as a GUID: expected 8-4-4-4-12 hex digits`);
  const [a = '', b = '', c = '', d = '', e = ''] = text.split('-');
  const le = (hex: string): Buffer => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([le(a), le(b), le(c), Buffer.from(d, 'hex'), Buffer.from(e, 'hex')]);
}

export function isZeroGuid(bytes: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 16; i++) if (bytes[offset + i] !== 0) return false;
  return true;
}

/** A random version-4 GUID in text form. */
export function randomGuid(): string {
  // WebCrypto's global, not node:crypto: that module is loaded when a GUID is made, not by every command reading a GPT.
  const b = Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16)));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`.toUpperCase();
}

export function sameGuid(a: string, b: string): boolean {
  return a.toUpperCase() === b.toUpperCase();
}
