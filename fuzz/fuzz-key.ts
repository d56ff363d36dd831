// The fixed signing key of the fuzz corpus: the targets' keyring and the seed bundles share it, so
// mutations can reach past the signature check.

import { createHash } from 'node:crypto';
import { privateKeyFromSeed, type PrivateKey } from '../verify/keys.js';

export function fuzzPrivateKey(): PrivateKey {
  return privateKeyFromSeed(createHash('sha256').update('abupdate-fuzz-key').digest());
}
