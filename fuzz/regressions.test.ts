// Replays every input that ever broke a fuzz target's contract (fuzz/regressions/TARGET/*) and the generated seed
// corpus through the targets, without Jazzer: each must now give a valid parse or an allowed UpdaterError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../fixtures/cli.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { ContractBreach, type FuzzContract } from './contract.js';
import { writeSeedCorpus } from './seeds.js';
import { FUZZ_TARGETS } from './targets.js';

interface TargetModule {
  fuzz(data: Buffer): void | Promise<void>;
  contract: FuzzContract;
}

async function filesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => !name.startsWith('.') && name !== 'README.md').map((name) => path.join(dir, name));
  } catch {
    return [];
  }
}

for (const target of FUZZ_TARGETS) {
  test(`fuzz target ${target}: every saved regression input and every seed keeps the contract`, async (t) => {
    const module = (await import(`./targets/${target}.js`)) as TargetModule;
    const dir = await makeTempDir(t);
    const seeds = await writeSeedCorpus(target, path.join(dir, 'seeds'), path.join(dir, 'work'));
    assert.ok(seeds >= 2, `${target} has at least two seeds`);
    const inputs = [...(await filesIn(path.join(PROJECT_ROOT, 'fuzz', 'regressions', target))), ...(await filesIn(path.join(dir, 'seeds')))];
    for (const file of inputs) {
      const data = await readFile(file);
      assert.ok(data.length <= module.contract.maxLen || file.includes('/regressions/'), `${file} fits -max_len`);
      await assert.doesNotReject(async () => module.fuzz(data), `${path.relative(PROJECT_ROOT, file)} breaks the ${target} contract`);
    }
  });
}

test('fuzz contract: an exception that is not an UpdaterError, or a code outside the list, is a ContractBreach', async () => {
  const module = (await import('./targets/manifest.js')) as TargetModule;
  assert.doesNotThrow(() => module.fuzz(Buffer.from('{')), 'bad JSON is ERR_MANIFEST_JSON: allowed');
  const { withinContract } = await import('./contract.js');
  assert.throws(() => withinContract(['ERR_MANIFEST_JSON'], () => { throw new TypeError('x is undefined'); }), ContractBreach);
  const { UpdaterError } = await import('../common/errors.js');
  assert.throws(() => withinContract(['ERR_MANIFEST_JSON'], () => { throw new UpdaterError('ERR_INTERNAL', 'Cannot x: y'); }), ContractBreach);
});
