// `abupdate keygen`: makes an Ed25519 signing key pair, PREFIX.key (private, 0600) and PREFIX.pub.

import { generateKeyPair, writeKeyPair } from '../../verify/keys.js';
import { COMMON_HELP, COMMON_OPTIONS, report, requireOption, type Command } from './command.js';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'make an Ed25519 signing key pair (PREFIX.key, PREFIX.pub)',
  help: [
    'Usage: abupdate keygen --out PREFIX [--json]',
    '',
    'Writes PREFIX.key (the private key, mode 0600: keep it on the build machine, offline if you can)',
    'and PREFIX.pub (the public key: copy it into /etc/abupdate/keys.d/ on every host that should trust',
    'bundles signed with this key). Both are one-line text files (docs/bundle-format.md). Existing files',
    'are never overwritten. The key id printed is what manifests, revocation lists and errors name.',
    '',
    'Options:',
    '  --out PREFIX           path prefix of the two files',
    COMMON_HELP.json,
  ].join('\n'),
  options: { out: { type: 'string' }, json: COMMON_OPTIONS.json },
  async run(ctx) {
    const prefix = requireOption(ctx.values, 'out', 'keygen');
    const key = generateKeyPair();
    const { privatePath, publicPath } = await writeKeyPair(prefix, key);
    report(ctx, `Wrote ${privatePath} (private: keep it secret) and ${publicPath}\nkey id ${key.keyId}`, {
      keyId: key.keyId,
      privateKey: privatePath,
      publicKey: publicPath,
    });
    return 0;
  },
};
