// Ed25519 detached signatures (tweetnacl) over exact bytes, checked against a keyring.

import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { UpdaterError } from '../common/errors.js';
import type { PrivateKey } from './keys.js';
import type { Keyring } from './keyring.js';

export const SIGNATURE_BYTES = 64;

/**
 * Signatures that verified recently, keyed by public key + SHA-256(signature || message). tweetnacl's verify
 * costs ~20 ms (and ~1 s for an 8 MiB manifest); the engine and bundle info re-check the same manifest on
 * resume. Only successes are remembered, so a hit needs a SHA-256 collision to be wrong.
 */
const verified = new Map<string, true>();
const VERIFIED_MAX = 64;

function verifyWithKey(digest: string, bytes: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  const id = `${Buffer.from(publicKey).toString('hex')}:${digest}`;
  if (verified.has(id)) return true;
  if (!nacl.sign.detached.verify(bytes, signature, publicKey)) return false;
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
  verified.set(id, true);
  return true;
}

export function signDetached(bytes: Uint8Array, privateKey: PrivateKey): Uint8Array {
  return nacl.sign.detached(bytes, privateKey.secretKey);
}

export interface VerifyDetachedOptions {
  /**
   * The key id the signed content names (the manifest's keyId), for a precise error message. A function is only
   * called once verification failed (so untrusted content is not parsed before its signature is checked).
   */
  expectedKeyId?: string | (() => string | undefined);
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
  const digest = createHash('sha256').update(signature).update(bytes).digest('hex');
  for (const key of keyring.keys) {
    if (verifyWithKey(digest, bytes, signature, key.bytes)) return { keyId: key.keyId };
  }
  for (const key of keyring.revokedKeys) {
    if (nacl.sign.detached.verify(bytes, signature, key.bytes)) {
      throw new UpdaterError('ERR_KEY_REVOKED', `Cannot verify ${what}: signed by key ${key.keyId}, which is revoked`, {
        data: { keyId: key.keyId },
        hint: 'Get content signed with a current key; revoked keys are listed in revoked.list of the keyring.',
      });
    }
  }
  const expected = typeof options.expectedKeyId === 'function' ? options.expectedKeyId() : options.expectedKeyId;
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
