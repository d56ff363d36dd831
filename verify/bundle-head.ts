// Reads a bundle's head (manifest.json, manifest.json.sig, the image header) and verifies the signature first.

import { UpdaterError } from '../common/errors.js';
import { ByteReader } from './byte-reader.js';
import { isKeyId } from './keys.js';
import type { Keyring } from './keyring.js';
import { bundleLayout, padToBlock, TAR_BLOCK, type BundleLayout } from './layout.js';
import { MAX_MANIFEST_BYTES, parseManifest, type Manifest } from './manifest.js';
import { SIGNATURE_BYTES, verifyDetached } from './signature.js';
import { isZeroBlock, parseUstarHeader, type UstarMember } from './ustar.js';

export const MEMBER_NAMES = ['manifest.json', 'manifest.json.sig', 'image'] as const;

export interface BundleHead {
  manifest: Manifest;
  /** The exact bytes of manifest.json (what the signature covers). */
  manifestBytes: Buffer;
  signature: Buffer;
  /** The keyring key that made the signature. */
  keyId: string;
  /** Offset of the first image byte in the bundle. */
  imageOffset: number;
  layout: BundleLayout;
  /** The bytes after the image header: the image, then tar padding and end blocks. */
  rest: AsyncIterable<Uint8Array>;
}

export interface ReadBundleHeadOptions {
  keyring: Keyring;
  /** Refuse a manifest.json larger than this (default and ceiling: 8 MiB). */
  maxManifestBytes?: number;
}

/** A head read without trusting it (for `bundle info`): the signature outcome is recorded, not thrown. */
export interface InspectedBundleHead extends Omit<BundleHead, 'keyId'> {
  keyId: string | undefined;
  signatureError: UpdaterError | undefined;
}

async function readMemberHeader(reader: ByteReader, index: number): Promise<UstarMember> {
  const offset = reader.position;
  const expected = MEMBER_NAMES[index] ?? '';
  const member = parseUstarHeader(await reader.read(TAR_BLOCK, `the header of ${expected}`), offset);
  if (member.name === expected) return member;
  const at = (MEMBER_NAMES as readonly string[]).indexOf(member.name);
  if (at === -1) {
    throw new UpdaterError('ERR_BUNDLE_MEMBER', `Cannot read bundle: unexpected member "${member.name}" at byte ${offset}, expected "${expected}"`, {
      data: { offset, name: member.name, expected, reason: 'extra' },
      hint: 'A bundle holds exactly manifest.json, manifest.json.sig and image, in this order.',
    });
  }
  const reason = at < index ? 'duplicate' : 'order';
  throw new UpdaterError('ERR_BUNDLE_ORDER', `Cannot read bundle: member "${member.name}" at byte ${offset} is ${at < index ? 'a duplicate' : 'out of order'}, expected "${expected}"`, {
    data: { offset, name: member.name, expected, reason },
    hint: 'A bundle holds exactly manifest.json, manifest.json.sig and image, in this order.',
  });
}

/** Reads a member's data and checks that its padding up to the next block is zeros. */
async function readMemberData(reader: ByteReader, member: UstarMember): Promise<Buffer> {
  const data = Buffer.from(await reader.read(member.size, `the data of ${member.name}`)); // own copy
  const padding = padToBlock(member.size) - member.size;
  if (padding > 0 && !isZeroBlock(await reader.read(padding, `the padding of ${member.name}`))) {
    throw new UpdaterError('ERR_BUNDLE_TAR', `Cannot read bundle: the padding after "${member.name}" is not zeros`, {
      data: { offset: reader.position - padding, reason: 'padding' },
    });
  }
  return data;
}

function peekKeyId(manifestBytes: Buffer): string | undefined {
  try {
    const value: unknown = JSON.parse(manifestBytes.toString('utf8'));
    const keyId = (value as { keyId?: unknown } | null)?.keyId;
    return typeof keyId === 'string' && isKeyId(keyId) ? keyId : undefined;
  } catch {
    return undefined;
  }
}

async function readHead(source: AsyncIterable<Uint8Array>, keyring: Keyring, maxManifestBytes: number, strict: boolean): Promise<InspectedBundleHead> {
  const reader = new ByteReader(source);
  try {
    const manifestMember = await readMemberHeader(reader, 0);
    if (manifestMember.size > maxManifestBytes) {
      throw new UpdaterError('ERR_MANIFEST_TOO_LARGE', `Cannot read bundle: manifest.json has ${manifestMember.size} bytes, more than the limit of ${maxManifestBytes}`, {
        data: { size: manifestMember.size, limit: maxManifestBytes },
      });
    }
    const manifestBytes = await readMemberData(reader, manifestMember);
    const signatureMember = await readMemberHeader(reader, 1);
    if (signatureMember.size !== SIGNATURE_BYTES) {
      throw new UpdaterError('ERR_BUNDLE_SIZE', `Cannot read bundle: manifest.json.sig has ${signatureMember.size} bytes, expected ${SIGNATURE_BYTES}`, {
        data: { member: 'manifest.json.sig', size: signatureMember.size, expected: SIGNATURE_BYTES },
      });
    }
    const signature = await readMemberData(reader, signatureMember);
    let keyId: string | undefined;
    let signatureError: UpdaterError | undefined;
    try {
      keyId = verifyManifestSignature(manifestBytes, signature, keyring);
    } catch (error) {
      if (strict || !(error instanceof UpdaterError)) throw error;
      signatureError = error;
    }
    const manifest = parseManifest(manifestBytes, maxManifestBytes);
    if (keyId !== undefined && manifest.keyId !== keyId) {
      const error = new UpdaterError('ERR_SIGNATURE', `Cannot verify bundle: the manifest names key ${manifest.keyId}, but it is signed by key ${keyId}`, {
        data: { keyId, manifestKeyId: manifest.keyId },
      });
      if (strict) throw error;
      signatureError = error;
      keyId = undefined;
    }
    const imageMember = await readMemberHeader(reader, 2);
    if (imageMember.size !== manifest.image.size) {
      throw new UpdaterError('ERR_BUNDLE_SIZE', `Cannot read bundle: the image member has ${imageMember.size} bytes, but the manifest says ${manifest.image.size}`, {
        data: { member: 'image', size: imageMember.size, expected: manifest.image.size },
      });
    }
    const layout = bundleLayout(manifest, manifestBytes.length);
    if (reader.position !== layout.imageOffset) {
      throw new UpdaterError('ERR_INTERNAL', `Cannot read bundle: image starts at ${reader.position}, layout says ${layout.imageOffset}`);
    }
    return { manifest, manifestBytes, signature, keyId, signatureError, imageOffset: layout.imageOffset, layout, rest: reader.rest() };
  } catch (error) {
    await reader.close();
    throw error;
  }
}

/** Verifies before parsing; only when that fails is the (untrusted) manifest peeked at to name the key in the error. */
function verifyManifestSignature(manifestBytes: Buffer, signature: Buffer, keyring: Keyring): string {
  return verifyDetached(manifestBytes, signature, keyring, { what: 'bundle', expectedKeyId: () => peekKeyId(manifestBytes) }).keyId;
}

function manifestLimit(options: { maxManifestBytes?: number }): number {
  return Math.min(options.maxManifestBytes ?? MAX_MANIFEST_BYTES, MAX_MANIFEST_BYTES);
}

/**
 * Consumes exactly the manifest, signature and image header of a bundle stream, verifies the signature with the
 * keyring before anything else is believed, and returns the rest of the stream unread (starting at the image).
 */
export async function readBundleHead(source: AsyncIterable<Uint8Array>, options: ReadBundleHeadOptions): Promise<BundleHead> {
  const { signatureError: _unused, keyId, ...head } = await readHead(source, options.keyring, manifestLimit(options), true);
  return { ...head, keyId: keyId as string };
}

/** Like readBundleHead, but a failed signature check is returned in `signatureError` (the manifest is then untrusted). */
export async function inspectBundleHead(source: AsyncIterable<Uint8Array>, options: ReadBundleHeadOptions): Promise<InspectedBundleHead> {
  return readHead(source, options.keyring, manifestLimit(options), false);
}
