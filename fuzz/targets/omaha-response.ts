// Fuzz target: the Omaha v3 response parser, given the body bytes decoded as the client decodes them (UTF-8).

import { parseOmahaResponse } from '../../src/omaha/response.js';
import { withinContract, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: ['ERR_OMAHA_XML', 'ERR_OMAHA_STATUS'],
  maxLen: 16 * 1024,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: true,
};

export function fuzz(data: Buffer): void {
  withinContract(contract.codes, () => {
    parseOmahaResponse(data.toString('utf8'));
  });
}
