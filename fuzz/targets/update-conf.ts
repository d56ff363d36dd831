// Fuzz target: update.conf, through loadConfig itself (the input is the /etc file, no vendor file, no environment).

import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load-config.js';
import { withinContractAsync, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: ['ERR_CONFIG'],
  maxLen: 8 * 1024,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: false,
};

let file: string | undefined;

export async function fuzz(data: Buffer): Promise<void> {
  file ??= path.join(mkdtempSync(path.join(tmpdir(), 'abupdate-fuzz-conf-')), 'update.conf');
  writeFileSync(file, data);
  const configFile = file;
  await withinContractAsync(contract.codes, async () => {
    await loadConfig({ configFile, vendorFile: path.join(path.dirname(configFile), 'no-vendor.conf'), env: {} });
  });
}
