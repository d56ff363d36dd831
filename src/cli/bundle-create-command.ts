// `abupdate bundle create`: hashes an image chunk by chunk and writes the signed bundle (manifest, signature, image;
// format 2: content-defined chunks, the signed index, the chunks compressed one by one).

import { UpdaterError } from '../../common/errors.js';
import { createBundle, DEFAULT_AVG_CHUNK } from '../../verify/bundle-writer.js';
import { DEFAULT_ZSTD_LEVEL } from '../../verify/zstd.js';
import { readPrivateKey } from '../../verify/keys.js';
import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../../verify/manifest.js';
import { parseVersion } from '../../verify/version.js';
import { intOption, report, requireOption, stringOption, type Command } from './command.js';
import { expiresOption, parseExpires, signingKeyOption } from './signing-options.js';

export const bundleCreateCommand: Command = {
  name: 'bundle create',
  summary: 'build a signed bundle from a root image',
  usage: [
    'abupdate bundle create --image FILE --version V --key PREFIX.key --out FILE --compatible S',
    '                              [--expires WHEN] [--min-version V] [--chunk-size N] [--json]',
    '                              [--format 2 [--chunking cdc] [--avg-chunk N] [--compress zstd|none] [--zstd-level N]]',
  ].join('\n'),
  description: [
    'Reads the image twice (chunk hashes first, then the tar), never holding it in memory, and writes',
    'one ustar file: manifest.json, manifest.json.sig (Ed25519 over the manifest bytes), image.',
    'Format 2 cuts content-defined chunks (FastCDC), so a host that has most of them in a slot already',
    'downloads only the rest (a delta install); it adds a signed binary index member and compresses each',
    'chunk with zstd (stored raw when that is not smaller). `abupdate bundle diff` shows what a host would fetch.',
    'The file appears under its name only when complete (written to FILE.partial, then renamed).',
  ].join('\n'),
  options: {
    image: { type: 'string', value: 'FILE', help: 'the raw root image (squashfs, erofs, ext4); at most 8 GiB - 1 (format 2: 64 GiB, stored in at most 8 GiB - 1)' },
    version: { type: 'string', value: 'V', help: 'semantic version of the image, e.g. 1.4.0 or 2.0.0-rc.1' },
    key: signingKeyOption('the bundle'),
    out: { type: 'string', value: 'FILE', help: 'the bundle to write' },
    compatible: { type: 'string', value: 'S', help: 'what the image is for; hosts refuse bundles for another compatible string' },
    expires: expiresOption('it'),
    'min-version': { type: 'string', value: 'V', help: 'the oldest installed version that may update to this one' },
    'chunk-size': { type: 'string', value: 'N', help: `format 1: bytes per verified chunk (default ${DEFAULT_CHUNK_SIZE}; ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE})` },
    format: { type: 'string', value: '1|2', help: 'the bundle format (default 1; 2 allows delta installs, docs/bundle-format.md)' },
    chunking: { type: 'string', value: 'cdc', help: 'format 2: how the image is cut; cdc (FastCDC, content-defined) is the one kind' },
    'avg-chunk': { type: 'string', value: 'N', help: `format 2: the average content-defined chunk, a power of two (default ${DEFAULT_AVG_CHUNK}; min N/4, max 4N)` },
    compress: { type: 'string', value: 'zstd|none', help: 'format 2: compress each chunk (default zstd)' },
    'zstd-level': { type: 'string', value: 'N', help: `format 2: the zstd level, 1 to 22 (default ${DEFAULT_ZSTD_LEVEL}; 3 is about 20x faster, 9 % larger)` },
  },
  async run(ctx) {
    const command = 'bundle create';
    const imagePath = requireOption(ctx.values, 'image', command);
    const version = requireOption(ctx.values, 'version', command);
    const keyPath = requireOption(ctx.values, 'key', command);
    const out = requireOption(ctx.values, 'out', command);
    const compatible = requireOption(ctx.values, 'compatible', command);
    parseVersion(version, '--version');
    const minVersion = stringOption(ctx.values, 'min-version');
    if (minVersion !== undefined) parseVersion(minVersion, '--min-version');
    const expiresText = stringOption(ctx.values, 'expires');
    const chunkSize = intOption(ctx.values, 'chunk-size', MIN_CHUNK_SIZE, MAX_CHUNK_SIZE) ?? DEFAULT_CHUNK_SIZE;
    const formatText = stringOption(ctx.values, 'format') ?? '1';
    if (formatText !== '1' && formatText !== '2') throw new UpdaterError('ERR_USAGE', `bundle create: --format must be 1 or 2, not "${formatText}"`);
    const format = formatText === '2' ? 2 : 1;
    const compress = stringOption(ctx.values, 'compress') ?? 'zstd';
    if (compress !== 'zstd' && compress !== 'none') throw new UpdaterError('ERR_USAGE', `bundle create: --compress must be zstd or none, not "${compress}"`);
    const avgChunk = intOption(ctx.values, 'avg-chunk', 4 * MIN_CHUNK_SIZE, MAX_CHUNK_SIZE / 4) ?? DEFAULT_AVG_CHUNK;
    const zstdLevel = intOption(ctx.values, 'zstd-level', 1, 22) ?? DEFAULT_ZSTD_LEVEL;
    const chunking = stringOption(ctx.values, 'chunking') ?? 'cdc';
    if (chunking !== 'cdc') throw new UpdaterError('ERR_USAGE', `bundle create: --chunking must be cdc, not "${chunking}"`, { hint: 'Fixed chunks are format 1: leave out --format 2 and give --chunk-size.' });
    if (format === 1) {
      for (const name of ['chunking', 'avg-chunk', 'compress', 'zstd-level']) {
        if (ctx.values[name] !== undefined) throw new UpdaterError('ERR_USAGE', `bundle create: --${name} needs --format 2`, { hint: 'Add --format 2, or leave the option out.' });
      }
    } else if (ctx.values['chunk-size'] !== undefined) {
      throw new UpdaterError('ERR_USAGE', 'bundle create: --chunk-size is for format 1; format 2 takes --avg-chunk');
    }
    const privateKey = await readPrivateKey(keyPath);
    const created = await createBundle({
      imagePath,
      version,
      compatible,
      privateKey,
      out,
      chunkSize,
      format,
      ...(format === 2 ? { avgChunk, compress, zstdLevel } : {}),
      signal: ctx.signal,
      ...(expiresText === undefined ? {} : { expires: parseExpires(expiresText, new Date()) }),
      ...(minVersion === undefined ? {} : { minVersion }),
    });
    const m = created.manifest;
    const packed = m.image.packed;
    const stored = m.image.chunks.reduce((sum, c) => sum + (c.stored?.size ?? c.size), 0);
    const compressed = m.image.chunks.filter((c) => c.stored !== undefined && c.stored.size < c.size).length;
    const lines = [
      `Wrote ${out} (${created.layout.totalSize} bytes)`,
      `  version     ${m.version}`,
      `  compatible  ${m.compatible}`,
      `  image       ${m.image.size} bytes, sha256 ${m.image.sha256}`,
      packed
        ? `  chunks      ${m.image.chunks.length}, content-defined (fastcdc ${packed.chunking.min}/${packed.chunking.avg}/${packed.chunking.max}), ${compressed} stored as zstd: ${stored} bytes stored (${((100 * stored) / m.image.size).toFixed(1)} %)`
        : `  chunks      ${m.image.chunks.length} of ${chunkSize} bytes (last ${m.image.chunks.at(-1)?.size ?? 0})`,
      `  format      ${m.format}${packed ? `, index ${packed.index.size} bytes, sha256 ${packed.index.sha256}` : ''}`,
      `  created     ${m.created}${m.expires === undefined ? '' : `, expires ${m.expires}`}${m.minVersion === undefined ? '' : `, needs ${m.minVersion} or newer installed`}`,
      `  signed by   key ${m.keyId}`,
    ];
    report(ctx, lines.join('\n'), {
      path: out,
      size: created.layout.totalSize,
      keyId: m.keyId,
      imageOffset: created.layout.imageOffset,
      manifest: { ...m, image: { size: m.image.size, sha256: m.image.sha256, chunkCount: m.image.chunks.length, ...(packed ? { packed } : {}) } },
      ...(packed ? { stored: { bytes: stored, compressedChunks: compressed } } : {}),
    });
    return 0;
  },
};
