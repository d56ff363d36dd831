// `abupdate bundle diff --from OLD NEW`: what a host holding OLD (a slot, an image, a bundle) downloads to install NEW.

import { open } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import { isUrl } from '../download/byte-source.js';
import { formatBytes } from '../engine/progress.js';
import { loadEngineState } from '../engine/state-store.js';
import { loadSlotIndex } from '../engine/slot-index.js';
import { resolveSlotTarget } from '../engine/slot-writer.js';
import { diffBundle, type DiffFrom } from '../usecases/bundle-diff.js';
import { report, requireOption, type Command } from './command.js';
import { resolveSlotArgument } from './slot-context.js';

const SLOT_WORDS = new Set(['a', 'b', 'booted', 'other']);

/** A file is a bundle when it starts with the ustar header of manifest.json. */
async function isBundleFile(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw new UpdaterError('ERR_IO', `Cannot read "${file}": ${(error as Error).message}`, { cause: error });
  });
  try {
    const header = Buffer.alloc(512);
    const { bytesRead } = await handle.read(header, 0, 512, 0);
    return bytesRead === 512 && header.toString('latin1', 0, 14) === 'manifest.json\0' && header.toString('latin1', 257, 262) === 'ustar';
  } finally {
    await handle.close();
  }
}

export const bundleDiffCommand: Command = {
  name: 'bundle diff',
  summary: 'print what a host holding OLD downloads to install bundle NEW',
  usage: 'abupdate bundle diff --from A|B|booted|other|IMAGE|BUNDLE NEW(FILE|URL) [--keyring DIR]... [--disk PATH] [--json]',
  description: [
    'Reads the head of the format 2 bundle NEW (manifest, signature, chunk index; never its image) and',
    'finds which of its chunks OLD has, as a delta install does: a slot of this host (its recorded',
    'chunk index, else the slot chunked read-only), a raw image file, or an older bundle (its index, or',
    'for format 1 its image). Prints the bytes a host holding OLD downloads: the head, the missing chunks',
    'as stored (compressed), and the tar end. Writes nothing. A format 1 NEW is always downloaded whole.',
  ].join('\n'),
  options: {
    from: { type: 'string', value: 'OLD', help: 'what the host holds: a slot (A, B, booted, other), an image file or a bundle (file or URL)' },
    keyring: { type: 'string', multiple: true, value: 'DIR', help: 'directory of trusted *.pub keys (repeatable; default KEYRING_DIRS of update.conf)' },
  },
  maxPositionals: 1,
  async run(ctx) {
    const location = ctx.positionals[0];
    if (location === undefined) throw new UpdaterError('ERR_USAGE', 'Cannot run "abupdate bundle diff": give the NEW bundle FILE or URL', { hint: 'See "abupdate bundle diff --help".' });
    const fromArg = requireOption(ctx.values, 'from', 'bundle diff');
    const host = await ctx.host();
    const keyring = await host.keyring();
    let from: DiffFrom;
    if (SLOT_WORDS.has(fromArg.toLowerCase())) {
      const disk = await host.disk();
      const slot = resolveSlotArgument(disk, fromArg, 'bundle diff');
      const where = await resolveSlotTarget(disk.diskPath, disk.slots[slot]);
      const record = (await loadEngineState(host.stateDir)).slots[slot];
      const size = Math.min(where.size, record?.chunkIndex?.imageSize ?? where.size);
      // The slot's recorded index is usable only with NEW's chunking, which diffBundle knows once it read NEW's head.
      from = { kind: 'slot', slot, local: { path: where.path, offset: where.offset, size }, recorded: (packed) => loadSlotIndex(host.stateDir, slot, record, packed) };
    } else if (isUrl(fromArg) || (await isBundleFile(fromArg))) {
      from = { kind: 'bundle', location: fromArg };
    } else {
      from = { kind: 'image', path: fromArg };
    }
    const diff = await diffBundle(from, location, keyring, ctx.signal);
    const pct = (n: number): string => `${((100 * n) / diff.bundleSize).toFixed(1)} %`;
    const lines =
      diff.format === 1
        ? [`Bundle ${location} (${diff.version}) is format 1: a host downloads it whole, ${formatBytes(diff.bundleSize)} (${diff.bundleSize} bytes).`]
        : [
            `A host holding ${fromArg} downloads ${formatBytes(diff.download.total)} (${diff.download.total} bytes, ${pct(diff.download.total)} of the ${formatBytes(diff.bundleSize)} bundle) to install ${diff.version}:`,
            `  head        ${diff.download.head} bytes (manifest, signature, chunk index)`,
            `  chunks      ${diff.chunks - diff.localChunks} of ${diff.chunks} missing, ${diff.download.chunks} bytes as stored`,
            `  reused      ${diff.localChunks} chunks, ${formatBytes(diff.localBytes)} of the ${formatBytes(diff.imageSize)} image (${fromArg} ${diff.how === 'index' ? 'by its index' : 'chunked read-only'})`,
            `  tar end     ${diff.download.tail} bytes`,
          ];
    report(ctx, lines.join('\n'), { from: fromArg, bundle: location, ...diff });
    return 0;
  },
};
