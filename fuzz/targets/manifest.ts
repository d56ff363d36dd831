// Fuzz target: the manifest parser (UTF-8 JSON, schema, chunk list, limits); a valid parse must serialize and
// parse back to the same manifest.

import { parseManifest, serializeManifest } from '../../verify/manifest.js';
import { expect, withinContract, type FuzzContract } from '../contract.js';
import { isDeepStrictEqual } from 'node:util';

export const contract: FuzzContract = {
  codes: ['ERR_BAD_VERSION', 'ERR_MANIFEST_JSON', 'ERR_MANIFEST_FORMAT', 'ERR_MANIFEST_FIELD', 'ERR_MANIFEST_CHUNKS', 'ERR_MANIFEST_CHUNK_SIZE', 'ERR_MANIFEST_LIMIT', 'ERR_MANIFEST_TOO_LARGE'],
  maxLen: 64 * 1024,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: true,
};

export function fuzz(data: Buffer): void {
  withinContract(contract.codes, () => {
    const manifest = parseManifest(data);
    expect(isDeepStrictEqual(parseManifest(serializeManifest(manifest)), manifest), 'a parsed manifest does not survive serializeManifest and parseManifest');
  });
}
