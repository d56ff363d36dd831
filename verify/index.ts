// The public API of verify/ (trust): what src/ imports. Each name lives in its own file; see docs/bundle-format.md.

export { generateKeyPair, keyIdOf, readPrivateKey, readPublicKey, writeKeyPair, parsePublicKey, parsePrivateKey } from './keys.js';
export type { PrivateKey, PublicKey } from './keys.js';
export { loadKeyring, keyringOf, REVOCATION_LIST_NAME } from './keyring.js';
export type { Keyring, KeyringKey, LoadKeyringOptions } from './keyring.js';
export { signDetached, verifyDetached, SIGNATURE_BYTES } from './signature.js';
export { parseManifest, validateManifest, serializeManifest, DEFAULT_CHUNK_SIZE, MAX_MANIFEST_BYTES, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_CHUNKS, MAX_IMAGE_SIZE } from './manifest.js';
export type { Manifest, ManifestChunk } from './manifest.js';
export { compareVersions, parseVersion, isVersion } from './version.js';
export type { Version } from './version.js';
export { checkPolicy } from './policy.js';
export type { PolicyOptions } from './policy.js';
export { bundleLayout, chunkImageOffset } from './layout.js';
export type { BundleLayout, ChunkLocation } from './layout.js';
export { readBundleHead, inspectBundleHead } from './bundle-head.js';
export type { BundleHead, InspectedBundleHead, ReadBundleHeadOptions } from './bundle-head.js';
export { verifyChunks } from './chunk-verifier.js';
export type { VerifiedChunk, VerifyChunksOptions } from './chunk-verifier.js';
export { readBundle, bundleFileSource } from './bundle-reader.js';
export type { ReadBundleOptions, ReadBundleResult } from './bundle-reader.js';
export { createBundle, formatTimestamp } from './bundle-writer.js';
export type { CreateBundleOptions, CreatedBundle } from './bundle-writer.js';
export { verifySlotReadback } from './readback.js';
export type { ReadbackOptions, ReadbackResult } from './readback.js';
export { cdcParams, checkCdcParams, chunkStream, GEAR_SEED } from './cdc.js';
export type { CdcChunk, CdcParams } from './cdc.js';
