// Reads a bundle's head (manifest.json, manifest.json.sig, the image header) and verifies the signature first.

import { UpdaterError } from '../common/errors.js';
import { ByteReader } from './byte-reader.js';
import { isKeyId } from './keys.js';
import type { Keyring } from './keyring.js';
import { bundleLayout, padToBlock, TAR_BLOCK, type BundleLayout } from './layout.js';
import { attachChunkIndex } from './chunk-index.js';
import { MAX_MANIFEST_BYTES, parseManifest, type Manifest } from './manifest.js';
import { SIGNATURE_BYTES, verifyDetached } from './signature.js';
import { isZeroBlock, parseUstarHeader, type UstarMember } from './ustar.js';

export const MEMBER_NAMES = ['manifest.json', 'manifest.json.sig', 'image'] as const;
/** Format 2 puts the binary chunk index between the signature and the image. */
export const MEMBER_NAMES_V2 = ['manifest.json', 'manifest.json.sig', 'index', 'image'] as const;
const ALL_MEMBER_NAMES: readonly string[] = MEMBER_NAMES_V2;

export interface BundleHead {
  manifest: Manifest;
  /** The exact bytes of manifest.json (what the signature covers). */
  manifestBytes: Buffer;
  /** Format 2: the chunk index member's bytes (hash-verified; its records are `manifest.image.chunks`). */
  indexBytes: Buffer | undefined;
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
  /** Called once the signature is verified and the manifest parsed, before the rest of the head is read: the image member's offset. */
  onManifest?: (manifest: Manifest, imageOffset: number) => void;
}

/** A head read without trusting it (for `bundle info`): the signature outcome is recorded, not thrown. */
export interface InspectedBundleHead extends Omit<BundleHead, 'keyId'> {
  keyId: string | undefined;
  signatureError: UpdaterError | undefined;
}

const MEMBERS_HINT = 'A bundle holds exactly manifest.json, manifest.json.sig and image, in this order (format 2: index before image).';

/** The header of member NAMES[INDEX] (the names of the bundle's format; the first two are the same in both). */
async function readMemberHeader(reader: ByteReader, index: number, names: readonly string[] = MEMBER_NAMES): Promise<UstarMember> {
  const offset = reader.position;
  const expected = names[index] ?? '';
  const member = parseUstarHeader(await reader.read(TAR_BLOCK, `the header of ${expected}`), offset);
  if (member.name === expected) return member;
  const at = names.indexOf(member.name);
  if (at === -1) {
    const known = ALL_MEMBER_NAMES.includes(member.name);
    throw new UpdaterError(known ? 'ERR_BUNDLE_ORDER' : 'ERR_BUNDLE_MEMBER', `Cannot read bundle: ${known ? 'member' : 'unexpected member'} "${member.name}" at byte ${offset}${known ? ' does not belong to this format' : ''}, expected "${expected}"`, {
      data: { offset, name: member.name, expected, reason: known ? 'format' : 'extra' },
      hint: MEMBERS_HINT,
    });
  }
  const reason = at < index ? 'duplicate' : 'order';
  throw new UpdaterError('ERR_BUNDLE_ORDER', `Cannot read bundle: member "${member.name}" at byte ${offset} is ${at < index ? 'a duplicate' : 'out of order'}, expected "${expected}"`, {
    data: { offset, name: member.name, expected, reason },
    hint: MEMBERS_HINT,
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

async function readHead(source: AsyncIterable<Uint8Array>, keyring: Keyring, maxManifestBytes: number, strict: boolean, onManifest?: ReadBundleHeadOptions['onManifest']): Promise<InspectedBundleHead> {
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
    let manifest = parseManifest(manifestBytes, maxManifestBytes);
    if (keyId !== undefined && manifest.keyId !== keyId) {
      const error = new UpdaterError('ERR_SIGNATURE', `Cannot verify bundle: the manifest names key ${manifest.keyId}, but it is signed by key ${keyId}`, {
        data: { keyId, manifestKeyId: manifest.keyId },
      });
      if (strict) throw error;
      signatureError = error;
      keyId = undefined;
    }
    if (keyId !== undefined) onManifest?.(manifest, bundleLayout(manifest, manifestBytes.length).imageOffset);
    const { packed } = manifest.image;
    let indexBytes: Buffer | undefined;
    if (packed) {
      const indexMember = await readMemberHeader(reader, 2, MEMBER_NAMES_V2);
      if (indexMember.size !== packed.index.size) {
        throw new UpdaterError('ERR_BUNDLE_SIZE', `Cannot read bundle: the index member has ${indexMember.size} bytes, but the manifest says ${packed.index.size}`, {
          data: { member: 'index', size: indexMember.size, expected: packed.index.size },
        });
      }
      indexBytes = await readMemberData(reader, indexMember);
      // A format 2 bundle whose signature failed (bundle info) still has its index checked against the manifest.
      manifest = attachChunkIndex(manifest, indexBytes);
    }
    const imageMember = await readMemberHeader(reader, packed ? 3 : 2, packed ? MEMBER_NAMES_V2 : MEMBER_NAMES);
    const storedSize = packed?.storedSize ?? manifest.image.size;
    if (imageMember.size !== storedSize) {
      throw new UpdaterError('ERR_BUNDLE_SIZE', `Cannot read bundle: the image member has ${imageMember.size} bytes, but the manifest says ${storedSize}`, {
        data: { member: 'image', size: imageMember.size, expected: storedSize },
      });
    }
    const layout = bundleLayout(manifest, manifestBytes.length);
    if (reader.position !== layout.imageOffset) {
      throw new UpdaterError('ERR_INTERNAL', `Cannot read bundle: image starts at ${reader.position}, layout says ${layout.imageOffset}`);
    }
    return { manifest, manifestBytes, indexBytes, signature, keyId, signatureError, imageOffset: layout.imageOffset, layout, rest: reader.rest() };
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
  const { signatureError: _unused, keyId, ...head } = await readHead(source, options.keyring, manifestLimit(options), true, options.onManifest);
  return { ...head, keyId: keyId as string };
}

/** Like readBundleHead, but a failed signature check is returned in `signatureError` (the manifest is then untrusted). */
export async function inspectBundleHead(source: AsyncIterable<Uint8Array>, options: ReadBundleHeadOptions): Promise<InspectedBundleHead> {
  return readHead(source, options.keyring, manifestLimit(options), false);
}
