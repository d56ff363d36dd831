// `abupdate bundle index`: writes and signs the static channel index (e.g. stable.json + stable.json.sig) for a bundle.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { inspectBundleHead } from '../../verify/bundle-head.js';
import { bundleFileSource } from '../../verify/bundle-reader.js';
import { signChannelIndex } from '../../verify/channel-index.js';
import { keyringOf, loadKeyring } from '../../verify/keyring.js';
import { readPrivateKey } from '../../verify/keys.js';
import { formatTimestamp } from '../../verify/bundle-writer.js';
import { listOption, report, requireOption, stringOption, type Command } from './command.js';
import { expiresOption, parseExpires, signingKeyOption } from './signing-options.js';

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes a file atomically next to its final name. */
async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, bytes);
  await rename(temp, file);
}

export const bundleIndexCommand: Command = {
  name: 'bundle index',
  summary: 'write and sign a static channel index (stable.json + .sig) naming a bundle',
  usage: 'abupdate bundle index --bundle FILE --url URL --key K --out CHANNEL.json [--channel NAME] [--expires WHEN] [--json]',
  description: [
    'Reads the bundle (its signature must verify with the signing key or --keyring), hashes the',
    'whole file, and writes OUT (JSON: format, channel, version, compatible, url, size, sha256, created,',
    'expires, keyId) and OUT.sig (the Ed25519 detached signature of OUT\'s exact bytes). Publish both',
    'next to each other; hosts with PROTOCOL=static fetch SERVER/GROUP.json and SERVER/GROUP.json.sig.',
  ].join('\n'),
  options: {
    bundle: { type: 'string', value: 'FILE', help: 'the bundle to publish' },
    url: { type: 'string', value: 'URL', help: 'where hosts download it: absolute, or relative to the index URL' },
    key: signingKeyOption('the index'),
    out: { type: 'string', value: 'FILE', help: 'the index to write, e.g. stable.json (the signature goes to FILE.sig)' },
    channel: { type: 'string', value: 'NAME', help: "the channel (default: OUT's name without .json)" },
    expires: expiresOption('the index'),
    keyring: { type: 'string', multiple: true, value: 'DIR', help: 'directory of trusted *.pub keys that may have signed the bundle (repeatable)' },
  },
  async run(ctx) {
    const bundle = requireOption(ctx.values, 'bundle', 'bundle index');
    const url = requireOption(ctx.values, 'url', 'bundle index');
    const keyPath = requireOption(ctx.values, 'key', 'bundle index');
    const out = requireOption(ctx.values, 'out', 'bundle index');
    const channel = stringOption(ctx.values, 'channel') ?? path.basename(out).replace(/\.json$/, '');
    const now = new Date();
    const expiresText = stringOption(ctx.values, 'expires');
    const expires = expiresText === undefined ? undefined : parseExpires(expiresText, now);
    const privateKey = await readPrivateKey(keyPath);
    const dirs = listOption(ctx.values, 'keyring');
    const extra = dirs.length > 0 ? (await loadKeyring(dirs)).keys : [];
    const keyring = keyringOf([privateKey.publicKey, ...extra]);
    const source = bundleFileSource(bundle);
    const head = await inspectBundleHead(source, { keyring });
    await head.rest[Symbol.asyncIterator]().return?.();
    if (head.signatureError !== undefined) {
      throw new UpdaterError('ERR_SIGNATURE', `Cannot index bundle ${bundle}: its signature does not verify with key ${privateKey.keyId}${dirs.length > 0 ? ` or the keyring ${dirs.join(', ')}` : ''}`, {
        cause: head.signatureError,
        hint: 'Hosts would refuse it; pass --keyring DIR holding the key that signed the bundle.',
      });
    }
    const size = (await stat(bundle)).size;
    const sha256 = await sha256OfFile(bundle);
    const created = formatTimestamp(now);
    const signed = signChannelIndex(
      { channel, version: head.manifest.version, compatible: head.manifest.compatible, url, size, sha256, created, ...(expires === undefined ? {} : { expires }) },
      privateKey,
    );
    await writeAtomic(`${out}.sig`, signed.signature);
    await writeAtomic(out, signed.bytes);
    report(ctx, `Wrote ${out} and ${out}.sig: channel "${channel}" → ${signed.index.version} at ${url} (${size} bytes), signed by key ${privateKey.keyId}`, {
      index: signed.index,
      out,
      signature: `${out}.sig`,
    });
    return 0;
  },
};
