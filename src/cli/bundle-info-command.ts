// `abupdate bundle info`: prints a bundle's manifest and key id, and checks its signature, every chunk and the policy.

import { isUpdaterError, UpdaterError } from '../../common/errors.js';
import { inspectBundleHead } from '../../verify/bundle-head.js';
import { verifyChunks } from '../../verify/chunk-verifier.js';
import { checkPolicy } from '../../verify/policy.js';
import { openByteSource } from '../download/byte-source.js';
import { report, type Command } from './command.js';

interface Check {
  ok: boolean;
  error?: ReturnType<UpdaterError['toJSON']>;
}

function failed(error: unknown): Check {
  if (!isUpdaterError(error)) throw error;
  return { ok: false, error: error.toJSON() };
}

function line(name: string, check: Check, okText: string): string {
  return `  ${name.padEnd(11)} ${check.ok ? okText : `FAILED: ${check.error?.message ?? ''} [${check.error?.code ?? ''}]`}`;
}

export const bundleInfoCommand: Command = {
  name: 'bundle info',
  summary: 'print a bundle and verify its signature, chunks and policy',
  usage: 'abupdate bundle info FILE|URL [--keyring DIR]... [--compatible S] [--json]',
  description: [
    'Reads the whole bundle once: prints the manifest and the key id, checks the signature against the',
    'keyring, the SHA-256 of every chunk and of the whole image, the tar structure, the expiry and (with',
    '--compatible or COMPATIBLE in update.conf) that it is meant for this host. Exit status 0 only when',
    'every check passes; 1 when one fails (the report says which).',
  ].join('\n'),
  options: {
    keyring: { type: 'string', multiple: true, value: 'DIR', help: 'directory of trusted *.pub keys (repeatable; default KEYRING_DIRS of update.conf)' },
    compatible: { type: 'string', value: 'S', help: "the host's compatible string to check against (default COMPATIBLE of update.conf)" },
  },
  maxPositionals: 1,
  async run(ctx) {
    const location = ctx.positionals[0];
    if (location === undefined) {
      throw new UpdaterError('ERR_USAGE', 'Cannot run "abupdate bundle info": give the bundle FILE or URL', { hint: 'See "abupdate bundle info --help".' });
    }
    const host = await ctx.host();
    const dirs = host.keyringDirs;
    const compatible = host.compatible;
    const keyring = await host.keyring();
    const source = openByteSource(location, { signal: ctx.signal }).read(0);
    const head = await inspectBundleHead(source, { keyring });
    const m = head.manifest;
    const signature: Check = head.signatureError === undefined ? { ok: true } : failed(head.signatureError);
    let verifiedChunks = 0;
    let content: Check = { ok: true };
    try {
      for await (const chunk of verifyChunks(head.rest, m, { trailer: 'tar', checkImageHash: true, signal: ctx.signal })) verifiedChunks = chunk.index + 1;
    } catch (error) {
      content = failed(error);
    }
    let policy: Check = { ok: true };
    try {
      checkPolicy(m, { compatible: compatible ?? m.compatible });
    } catch (error) {
      policy = failed(error);
    }
    const ok = signature.ok && content.ok && policy.ok;
    const human = [
      `Bundle ${location}${head.keyId === undefined ? ' (signature NOT verified: the manifest below is untrusted)' : ''}`,
      `  version     ${m.version}`,
      `  compatible  ${m.compatible}`,
      `  created     ${m.created}`,
      ...(m.expires === undefined ? [] : [`  expires     ${m.expires}`]),
      ...(m.minVersion === undefined ? [] : [`  minVersion  ${m.minVersion}`]),
      `  image       ${m.image.size} bytes at bundle offset ${head.imageOffset}, sha256 ${m.image.sha256}`,
      m.image.packed
        ? `  chunks      ${m.image.chunks.length}, format 2: fastcdc ${m.image.packed.chunking.min}/${m.image.packed.chunking.avg}/${m.image.packed.chunking.max}, ${m.image.packed.compression}, ${m.image.packed.storedSize} bytes stored, index ${m.image.packed.index.size} bytes`
        : `  chunks      ${m.image.chunks.length}`,
      `  key id      ${m.keyId}`,
      line('signature', signature, `verified with key ${head.keyId ?? ''} (keyring ${dirs.join(', ')})`),
      line('content', content, `all ${verifiedChunks} chunks and the image SHA-256 match`),
      line('policy', policy, compatible === undefined ? 'not expired (no --compatible given to check)' : `for "${compatible}", not expired`),
      ok ? 'OK' : 'FAILED',
    ].join('\n');
    report(ctx, human, {
      ok,
      location,
      keyId: m.keyId,
      // Format 2's chunks are the index member's records, not part of the manifest.
      manifest: m.image.packed ? { ...m, image: { size: m.image.size, sha256: m.image.sha256, ...m.image.packed } } : m,
      layout: { imageOffset: head.imageOffset, totalSize: head.layout.totalSize },
      signature: { ...signature, ...(head.keyId === undefined ? {} : { keyId: head.keyId }), keyring: dirs },
      content: { ...content, chunks: m.image.chunks.length, verifiedChunks },
      policy: { ...policy, ...(compatible === undefined ? {} : { compatible }) },
    });
    return ok ? 0 : 1;
  },
};
