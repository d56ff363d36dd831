// Ed25519 detached signatures (tweetnacl) over exact bytes, checked against a keyring.

import nacl from 'tweetnacl';
import { UpdaterError } from '../common/errors.js';
import type { PrivateKey } from './keys.js';
import type { Keyring } from './keyring.js';

export const SIGNATURE_BYTES = 64;

export function signDetached(bytes: Uint8Array, privateKey: PrivateKey): Uint8Array {
  return nacl.sign.detached(bytes, privateKey.secretKey);
}

export interface VerifyDetachedOptions {
  /** The key id the signed content names (the manifest's keyId): used for a precise error message. */
  expectedKeyId?: string;
  /** What was signed, for messages: "bundle", "channel index". */
  what?: string;
}

function keyringText(keyring: Keyring): string {
  return keyring.dirs.length > 0 ? keyring.dirs.join(', ') : '(no directories)';
}

/** Returns the id of the keyring key that made `signature` over `bytes`; throws a typed error otherwise. */
export function verifyDetached(bytes: Uint8Array, signature: Uint8Array, keyring: Keyring, options: VerifyDetachedOptions = {}): { keyId: string } {
  const what = options.what ?? 'signature';
  if (signature.length !== SIGNATURE_BYTES) {
    throw new UpdaterError('ERR_SIGNATURE', `Cannot verify ${what}: the signature has ${signature.length} bytes, expected ${SIGNATURE_BYTES}`);
  }
  for (const key of keyring.keys) {
    if (nacl.sign.detached.verify(bytes, signature, key.bytes)) return { keyId: key.keyId };
  }
  for (const key of keyring.revokedKeys) {
    if (nacl.sign.detached.verify(bytes, signature, key.bytes)) {
      throw new UpdaterError('ERR_KEY_REVOKED', `Cannot verify ${what}: signed by key ${key.keyId}, which is revoked`, {
        data: { keyId: key.keyId },
        hint: 'Get content signed with a current key; revoked keys are listed in revoked.list of the keyring.',
      });
    }
  }
  const expected = options.expectedKeyId;
  if (expected !== undefined && keyring.revoked.has(expected)) {
    throw new UpdaterError('ERR_KEY_REVOKED', `Cannot verify ${what}: it names key ${expected}, which is revoked`, {
      data: { keyId: expected },
      hint: 'Get content signed with a current key.',
    });
  }
  if (keyring.keys.length === 0) {
    throw new UpdaterError('ERR_KEY_UNKNOWN', `Cannot verify ${what}: the keyring ${keyringText(keyring)} holds no usable key`, {
      data: { dirs: keyring.dirs, ...(expected === undefined ? {} : { keyId: expected }) },
      hint: 'Put the public key (*.pub) of the signer into the keyring directory, or pass --keyring DIR.',
    });
  }
  if (expected !== undefined && !keyring.keys.some((k) => k.keyId === expected)) {
    throw new UpdaterError('ERR_KEY_UNKNOWN', `Cannot verify ${what}: signed by key ${expected}, which is not in the keyring ${keyringText(keyring)}`, {
      data: { keyId: expected, dirs: keyring.dirs },
      hint: `Add the signer's public key ${expected}.pub to the keyring if you trust it.`,
    });
  }
  throw new UpdaterError('ERR_SIGNATURE', `Cannot verify ${what}: the signature does not match any key in the keyring ${keyringText(keyring)}`, {
    data: { dirs: keyring.dirs, ...(expected === undefined ? {} : { keyId: expected }) },
    hint: 'The content or its signature was changed after signing; get it again from a trusted source.',
  });
}
