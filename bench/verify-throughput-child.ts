// The measured process of bench/verify-throughput.ts: verifies one bundle file and prints timings and peak RSS as JSON.
// Usage: node verify-throughput-child.js BUNDLE KEYRING_DIR [--image-hash | --no-reuse]

import { bundleFileSource } from '../verify/bundle-reader.js';
import { readBundleHead } from '../verify/bundle-head.js';
import { verifyChunks } from '../verify/chunk-verifier.js';
import { loadKeyring } from '../verify/keyring.js';

export interface ChildResult {
  /** readBundleHead: tar headers, manifest, Ed25519 signature (tweetnacl), manifest validation. */
  headSeconds: number;
  /** verifyChunks over the image and the tar end: the streaming part. */
  chunksSeconds: number;
  bytes: number;
  chunks: number;
  maxRssMiB: number;
}

const [bundle = '', keyringDir = '', flag] = process.argv.slice(2);
const keyring = await loadKeyring([keyringDir]);
const start = process.hrtime.bigint();
const reuseBuffer = flag !== '--no-reuse';
const head = await readBundleHead(bundleFileSource(bundle, 0, { reuseBuffer }), { keyring });
const afterHead = process.hrtime.bigint();
let bytes = 0;
let chunks = 0;
for await (const chunk of verifyChunks(head.rest, head.manifest, { trailer: 'tar', reuseBuffer, checkImageHash: flag === '--image-hash' })) {
  bytes += chunk.data.length;
  chunks++;
}
const end = process.hrtime.bigint();
const result: ChildResult = {
  headSeconds: Number(afterHead - start) / 1e9,
  chunksSeconds: Number(end - afterHead) / 1e9,
  bytes,
  chunks,
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
