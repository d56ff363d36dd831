// Ed25519 keys: generation, the PREFIX.key / PREFIX.pub text files, and key ids (short SHA-256 of the public key).

import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import nacl from 'tweetnacl';
import { UpdaterError } from '../common/errors.js';

/** A public key: 32 raw Ed25519 bytes and its id. */
export interface PublicKey {
  keyId: string;
  bytes: Uint8Array;
}

/** A private key: the 32-byte seed, tweetnacl's 64-byte secret key, and its public half. */
export interface PrivateKey {
  keyId: string;
  seed: Uint8Array;
  secretKey: Uint8Array;
  publicKey: PublicKey;
}

export const PUBLIC_KEY_TAG = 'ed25519-public';
export const PRIVATE_KEY_TAG = 'ed25519-seed';
const KEY_ID_HEX = 16;

/** The key id: the first 16 hex digits (8 bytes) of SHA-256 over the 32 raw public key bytes. */
export function keyIdOf(publicKey: Uint8Array | PublicKey): string {
  const bytes = publicKey instanceof Uint8Array ? publicKey : publicKey.bytes;
  return createHash('sha256').update(bytes).digest('hex').slice(0, KEY_ID_HEX);
}

export function isKeyId(text: string): boolean {
  return /^[0-9a-f]{16}$/.test(text);
}

export function privateKeyFromSeed(seed: Uint8Array): PrivateKey {
  if (seed.length !== 32) {
    throw new UpdaterError('ERR_KEY_FORMAT', `Cannot use private key: the seed has ${seed.length} bytes, expected 32`);
  }
  const pair = nacl.sign.keyPair.fromSeed(seed);
  const publicKey = publicKeyFromBytes(pair.publicKey);
  return { keyId: publicKey.keyId, seed: Uint8Array.from(seed), secretKey: pair.secretKey, publicKey };
}

export function publicKeyFromBytes(bytes: Uint8Array): PublicKey {
  if (bytes.length !== 32) {
    throw new UpdaterError('ERR_KEY_FORMAT', `Cannot use public key: it has ${bytes.length} bytes, expected 32`);
  }
  const copy = Uint8Array.from(bytes);
  return { keyId: keyIdOf(copy), bytes: copy };
}

/** A fresh key pair from the system's CSPRNG. */
export function generateKeyPair(): PrivateKey {
  return privateKeyFromSeed(randomBytes(32));
}

export function formatPublicKey(key: PublicKey): string {
  return `# abupdate Ed25519 public key, key id ${key.keyId}\n${PUBLIC_KEY_TAG} ${Buffer.from(key.bytes).toString('base64')}\n`;
}

export function formatPrivateKey(key: PrivateKey): string {
  return (
    `# abupdate Ed25519 PRIVATE key, key id ${key.keyId}; keep it secret\n` +
    `${PRIVATE_KEY_TAG} ${Buffer.from(key.seed).toString('base64')}\n`
  );
}

/** Finds the one `TAG BASE64` line of a key file (blank lines and `#` comments are ignored) and decodes it. */
function parseKeyText(text: string, tag: string, what: string, source: string): Uint8Array {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const hint = `A ${what} file holds one line "${tag} BASE64" (see docs/bundle-format.md); make one with "abupdate keygen".`;
  if (lines.length !== 1) {
    throw new UpdaterError('ERR_KEY_FORMAT', `Cannot read ${what} "${source}": expected one key line, found ${lines.length}`, { hint });
  }
  const [found, encoded, ...extra] = (lines[0] ?? '').split(/\s+/);
  if (found !== tag || encoded === undefined || extra.length > 0) {
    throw new UpdaterError('ERR_KEY_FORMAT', `Cannot read ${what} "${source}": the key line does not start with "${tag} "`, { hint });
  }
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== encoded) {
    const shown = tag === PRIVATE_KEY_TAG ? 'the key' : `"${encoded.slice(0, 60)}"`; // never echo private key material
    throw new UpdaterError('ERR_KEY_FORMAT', `Cannot read ${what} "${source}": ${shown} is not the base64 of 32 bytes`, { hint });
  }
  return new Uint8Array(bytes);
}

export function parsePublicKey(text: string, source = 'public key'): PublicKey {
  return publicKeyFromBytes(parseKeyText(text, PUBLIC_KEY_TAG, 'public key', source));
}

export function parsePrivateKey(text: string, source = 'private key'): PrivateKey {
  return privateKeyFromSeed(parseKeyText(text, PRIVATE_KEY_TAG, 'private key', source));
}

async function readKeyFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UpdaterError('ERR_IO', `Cannot read ${what} "${path}": ${(error as Error).message}`, { cause: error });
  }
}

export async function readPublicKey(path: string): Promise<PublicKey> {
  return parsePublicKey(await readKeyFile(path, 'public key'), path);
}

export async function readPrivateKey(path: string): Promise<PrivateKey> {
  return parsePrivateKey(await readKeyFile(path, 'private key'), path);
}

/** Writes PREFIX.key (mode 0600) and PREFIX.pub; refuses to overwrite an existing key. */
export async function writeKeyPair(prefix: string, key: PrivateKey): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  try {
    await writeFile(privatePath, formatPrivateKey(key), { mode: 0o600, flag: 'wx' });
    await writeFile(publicPath, formatPublicKey(key.publicKey), { mode: 0o644, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UpdaterError('ERR_IO', `Cannot write key pair "${prefix}": ${(error as Error).message}`, {
        cause: error,
        hint: 'Choose another --out PREFIX, or remove the old key files first.',
      });
    }
    throw new UpdaterError('ERR_IO', `Cannot write key pair "${prefix}": ${(error as Error).message}`, { cause: error });
  }
  return { privatePath, publicPath };
}
