// The keyring: every *.pub in the keyring directories, minus the key ids named in revocation lists.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../common/errors.js';
import { isKeyId, readPublicKey, type PublicKey } from './keys.js';

/** A trusted key and the file it came from. */
export interface KeyringKey extends PublicKey {
  path: string;
}

export interface Keyring {
  /** The directories that were read, for messages. */
  dirs: string[];
  /** Trusted keys (revoked ones are not here). */
  keys: KeyringKey[];
  /** Key ids that must be refused even when a *.pub for them is present. */
  revoked: Set<string>;
  /** Keys whose *.pub is present but that are revoked: kept so a signature by one is named ERR_KEY_REVOKED. */
  revokedKeys: KeyringKey[];
}

export const REVOCATION_LIST_NAME = 'revoked.list';

export interface LoadKeyringOptions {
  /** Extra revoked key ids (for example from config), on top of each dir's revoked.list. */
  revoked?: Iterable<string>;
}

/** Parses a revocation list: one 16-hex-digit key id per line; blank lines and `#` comments ignored. */
export function parseRevocationList(text: string, source: string): string[] {
  const ids: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = (raw.split('#')[0] ?? '').trim();
    if (line === '') return;
    if (!isKeyId(line)) {
      throw new UpdaterError('ERR_KEY_FORMAT', `Cannot read revocation list "${source}": line ${index + 1} "${line}" is not a key id`, {
        hint: 'A key id is 16 lowercase hex digits, as "abupdate keygen" and "abupdate bundle info" print it.',
      });
    }
    ids.push(line);
  });
  return ids;
}

async function listDir(dir: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UpdaterError('ERR_IO', `Cannot read keyring "${dir}": ${(error as Error).message}`, { cause: error });
  }
}

/** Loads every `*.pub` of the dirs (missing dirs are skipped) and each dir's `revoked.list`. */
export async function loadKeyring(dirs: string[], options: LoadKeyringOptions = {}): Promise<Keyring> {
  const revoked = new Set<string>();
  for (const id of options.revoked ?? []) {
    if (!isKeyId(id)) throw new UpdaterError('ERR_KEY_FORMAT', `Cannot load keyring: revoked key id "${id}" is not 16 hex digits`);
    revoked.add(id);
  }
  const found: KeyringKey[] = [];
  for (const dir of dirs) {
    const names = await listDir(dir);
    if (names === undefined) continue;
    if (names.includes(REVOCATION_LIST_NAME)) {
      const file = path.join(dir, REVOCATION_LIST_NAME);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new UpdaterError('ERR_IO', `Cannot read revocation list "${file}": ${(error as Error).message}`, { cause: error });
      }
      for (const id of parseRevocationList(text, file)) revoked.add(id);
    }
    for (const name of names.filter((n) => n.endsWith('.pub'))) {
      const file = path.join(dir, name);
      const key = await readPublicKey(file);
      if (!found.some((k) => k.keyId === key.keyId)) found.push({ ...key, path: file });
    }
  }
  return {
    dirs: [...dirs],
    keys: found.filter((k) => !revoked.has(k.keyId)),
    revoked,
    revokedKeys: found.filter((k) => revoked.has(k.keyId)),
  };
}

/** A keyring made in memory (tests, or a key given on the command line). */
export function keyringOf(keys: PublicKey[], revoked: Iterable<string> = []): Keyring {
  const revokedSet = new Set(revoked);
  const all = keys.map((k) => ({ keyId: k.keyId, bytes: k.bytes, path: '(memory)' }));
  return {
    dirs: [],
    keys: all.filter((k) => !revokedSet.has(k.keyId)),
    revoked: revokedSet,
    revokedKeys: all.filter((k) => revokedSet.has(k.keyId)),
  };
}
