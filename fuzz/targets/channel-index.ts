// Fuzz target: the static channel index parser (JSON, schema, bundle URL, sizes and hashes).

import { parseChannelIndex } from '../../verify/channel-index.js';
import { withinContract, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: ['ERR_CHANNEL'],
  maxLen: 16 * 1024,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: true,
};

export function fuzz(data: Buffer): void {
  withinContract(contract.codes, () => {
    parseChannelIndex(data);
  });
}
