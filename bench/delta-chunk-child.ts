// The chunker alone, run by bench/delta.ts as plain node on an esbuild bundle (so tsx's memory is not counted):
// chunks IMAGE with cdcParams(AVG) read in 1 MiB pieces, writes the chunk list to OUT (JSON), prints the time and RSS.
// Usage: node delta-chunk-child.mjs IMAGE AVG OUT   (OUT '-': keep no list, to measure the chunker's memory alone)

import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cdcParams, chunkStream } from '../verify/cdc.js';

export interface ChunkList {
  offsets: number[];
  sizes: number[];
  hashes: string[];
}

export interface ChunkChildResult {
  seconds: number;
  bytes: number;
  chunks: number;
  /** RSS before reading (node itself), and the process's peak RSS at the end, MiB. */
  baseRssMiB: number;
  maxRssMiB: number;
}

async function main(): Promise<void> {
  const [image, avgText, out] = process.argv.slice(2);
  if (image === undefined || avgText === undefined || out === undefined) throw new Error('usage: IMAGE AVG OUT');
  const baseRssMiB = process.resourceUsage().maxRSS / 1024;
  const list: ChunkList = { offsets: [], sizes: [], hashes: [] };
  const start = process.hrtime.bigint();
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of chunkStream(createReadStream(image, { highWaterMark: 1024 * 1024 }), cdcParams(Number(avgText)))) {
    chunks += 1;
    bytes += chunk.size;
    if (out === '-') continue;
    list.offsets.push(chunk.offset);
    list.sizes.push(chunk.size);
    list.hashes.push(chunk.sha256);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (out !== '-') await writeFile(out, JSON.stringify(list));
  const result: ChunkChildResult = { seconds, bytes, chunks, baseRssMiB, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1]?.endsWith('delta-chunk-child.mjs')) await main();
