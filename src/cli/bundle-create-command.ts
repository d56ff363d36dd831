// `abupdate bundle create`: hashes an image chunk by chunk and writes the signed bundle (manifest, signature, image).

import { UpdaterError } from '../../common/errors.js';
import { createBundle } from '../../verify/bundle-writer.js';
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
  ].join('\n'),
  description: [
    'Reads the image twice (chunk hashes first, then the tar), never holding it in memory, and writes',
    'one ustar file: manifest.json, manifest.json.sig (Ed25519 over the manifest bytes), image.',
    'The file appears under its name only when complete (written to FILE.partial, then renamed).',
  ].join('\n'),
  options: {
    image: { type: 'string', value: 'FILE', help: 'the raw root image (squashfs, erofs, ext4); at most 8 GiB - 1' },
    version: { type: 'string', value: 'V', help: 'semantic version of the image, e.g. 1.4.0 or 2.0.0-rc.1' },
    key: signingKeyOption('the bundle'),
    out: { type: 'string', value: 'FILE', help: 'the bundle to write' },
    compatible: { type: 'string', value: 'S', help: 'what the image is for; hosts refuse bundles for another compatible string' },
    expires: expiresOption('it'),
    'min-version': { type: 'string', value: 'V', help: 'the oldest installed version that may update to this one' },
    'chunk-size': { type: 'string', value: 'N', help: `bytes per verified chunk (default ${DEFAULT_CHUNK_SIZE}; ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE})` },
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
    const privateKey = await readPrivateKey(keyPath);
    const created = await createBundle({
      imagePath,
      version,
      compatible,
      privateKey,
      out,
      chunkSize,
      signal: ctx.signal,
      ...(expiresText === undefined ? {} : { expires: parseExpires(expiresText, new Date()) }),
      ...(minVersion === undefined ? {} : { minVersion }),
    });
    const m = created.manifest;
    const lines = [
      `Wrote ${out} (${created.layout.totalSize} bytes)`,
      `  version     ${m.version}`,
      `  compatible  ${m.compatible}`,
      `  image       ${m.image.size} bytes, sha256 ${m.image.sha256}`,
      `  chunks      ${m.image.chunks.length} of ${chunkSize} bytes (last ${m.image.chunks.at(-1)?.size ?? 0})`,
      `  created     ${m.created}${m.expires === undefined ? '' : `, expires ${m.expires}`}${m.minVersion === undefined ? '' : `, needs ${m.minVersion} or newer installed`}`,
      `  signed by   key ${m.keyId}`,
    ];
    report(ctx, lines.join('\n'), {
      path: out,
      size: created.layout.totalSize,
      keyId: m.keyId,
      imageOffset: created.layout.imageOffset,
      manifest: { ...m, image: { size: m.image.size, sha256: m.image.sha256, chunkCount: m.image.chunks.length } },
    });
    return 0;
  },
};
