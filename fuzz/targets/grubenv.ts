// Fuzz target: the grubenv block parser; a valid parse must format back to a block that parses the same.

import { isDeepStrictEqual } from 'node:util';
import { formatGrubEnv, parseGrubEnv } from '../../partition/grubenv.js';
import { expect, withinContract, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: ['ERR_GRUBENV'],
  maxLen: 4096,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: true,
};

export function fuzz(data: Buffer): void {
  withinContract(contract.codes, () => {
    const env = parseGrubEnv(data, 'fuzz-grubenv');
    let block: Buffer;
    try {
      block = formatGrubEnv(env, 'fuzz-grubenv');
    } catch {
      return; // a parsed env may be unwritable (too long after normalising); refusing to write it is allowed
    }
    expect(isDeepStrictEqual(parseGrubEnv(block, 'fuzz-grubenv'), env), 'a parsed grubenv does not survive formatGrubEnv and parseGrubEnv');
  });
}
