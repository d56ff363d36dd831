// Fuzz target: the bundle head reader (ustar framing, manifest.json, manifest.json.sig, format 2's index, image
// header), fed in 1000-byte pieces so reads straddle chunk boundaries; then every chunk is verified as an install
// would (format 2: stored hash, bounded zstd inflate, hash), and the tar end checked.

import { inspectBundleHead } from '../../verify/bundle-head.js';
import { verifyChunks } from '../../verify/chunk-verifier.js';
import { keyringOf } from '../../verify/keyring.js';
import { fuzzPrivateKey } from '../fuzz-key.js';
import { withinContractAsync, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: [
    'ERR_BUNDLE_MEMBER', 'ERR_BUNDLE_ORDER', 'ERR_BUNDLE_SIZE', 'ERR_BUNDLE_TAR', 'ERR_BUNDLE_TRUNCATED', 'ERR_BUNDLE_TRAILING',
    'ERR_MANIFEST_JSON', 'ERR_MANIFEST_FORMAT', 'ERR_MANIFEST_FIELD', 'ERR_MANIFEST_CHUNKS', 'ERR_MANIFEST_CHUNK_SIZE',
    'ERR_MANIFEST_LIMIT', 'ERR_MANIFEST_TOO_LARGE', 'ERR_BAD_VERSION',
    'ERR_INDEX_HASH', 'ERR_INDEX', 'ERR_CHUNK_HASH', 'ERR_CHUNK_INFLATE',
  ],
  maxLen: 32 * 1024,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: false,
};

const keyring = keyringOf([fuzzPrivateKey().publicKey]);

async function* pieces(bytes: Buffer): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += 1000) yield bytes.subarray(at, at + 1000);
}

export async function fuzz(data: Buffer): Promise<void> {
  await withinContractAsync(contract.codes, async () => {
    // inspect records a bad signature instead of throwing, so a mutated manifest still reaches the parser
    const head = await inspectBundleHead(pieces(data), { keyring });
    for await (const chunk of verifyChunks(head.rest, head.manifest, { trailer: 'tar', reuseBuffer: true })) void chunk;
  });
}
