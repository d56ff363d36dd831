// `abupdate keygen`: makes an Ed25519 signing key pair, PREFIX.key (private, 0600) and PREFIX.pub.

import { generateKeyPair, writeKeyPair } from '../../verify/keys.js';
import { report, requireOption, type Command } from './command.js';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'make an Ed25519 signing key pair (PREFIX.key, PREFIX.pub)',
  usage: 'abupdate keygen --out PREFIX [--json]',
  description: [
    'Writes PREFIX.key (the private key, mode 0600: keep it on the build machine, offline if you can)',
    'and PREFIX.pub (the public key: copy it into /etc/abupdate/keys.d/ on every host that should trust',
    'bundles signed with this key). Both are one-line text files (docs/bundle-format.md). Existing files',
    'are never overwritten. The key id printed is what manifests, revocation lists and errors name.',
  ].join('\n'),
  options: { out: { type: 'string', value: 'PREFIX', help: 'path prefix of the two files' } },
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
