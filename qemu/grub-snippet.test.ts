// Runs partition/grub/abupdate-ab.cfg in real stock GRUB (OVMF, no kernel: abupdate_noboot=1) against a
// table of grubenv states and checks the slot it chose and the grubenv it left, byte for byte via grub-editenv.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildStandaloneGrub, grubenvFile, listGrubenv, runStandaloneGrub, type GrubEnvVars } from './harness/grub-standalone.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { PROJECT_ROOT } from '../fixtures/cli.js';

const SNIPPET = path.join(PROJECT_ROOT, 'partition', 'grub', 'abupdate-ab.cfg');
const GRUB_CFG = [
  'set timeout=0',
  'set abupdate_env=($root)/grub/grubenv',
  'set abupdate_noboot=1',
  'source ($root)/grub/abupdate-ab.cfg',
  'echo "RESULT slot=${abupdate_slot}"',
  'halt',
  '',
].join('\n');

type Env = GrubEnvVars;

describe('partition/grub/abupdate-ab.cfg in stock GRUB', { timeout: 10 * 60_000 }, () => {
  let efi: string;
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'abupdate-grub-'));
    efi = await buildStandaloneGrub(dir);
  });

  /** One GRUB boot with grubenv ENV; returns what the snippet chose and the grubenv afterwards. */
  async function bootOnce(dir: string, env: Env): Promise<{ slot: string; after: Env; console: string }> {
    await grubenvFile(path.join(dir, 'grubenv'), env);
    const run = await runStandaloneGrub({ dir, efi, grubCfg: GRUB_CFG, grubenv: path.join(dir, 'grubenv'), extra: [[SNIPPET, '::/grub/abupdate-ab.cfg']], done: /RESULT slot=[AB]?/ });
    const slot = /RESULT slot=([AB]?)/.exec(run.console)?.[1] ?? '';
    return { slot, after: await listGrubenv(run.grubenvAfter), console: run.console };
  }

  const cases: Array<[string, Env, string, Env]> = [
    ['boots B on trial and spends one of its 2 tries', { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '2' }, 'B', { B_TRY: '1' }],
    ['falls back to A when B has no tries and no commit', { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' }, 'A', { B_TRY: '0', A_TRY: '0' }],
    ['spends a try of a committed slot too (as gptprio.next)', { ORDER: 'A B', A_OK: '0', A_TRY: '0', B_OK: '1', B_TRY: '3' }, 'B', { B_TRY: '2' }],
    ['never boots a slot missing from ORDER', { ORDER: 'A', A_OK: '0', A_TRY: '0', B_OK: '1', B_TRY: '0' }, '', {}],
    ['boots a good slot with no tries and leaves grubenv as it was', { ORDER: 'A B', A_OK: '1', A_TRY: '0', B_OK: '1', B_TRY: '0' }, 'A', {}],
  ];

  for (const [name, env, slot, changed] of cases) {
    test(`abupdate-ab.cfg ${name}`, async (t) => {
      const dir = await makeTempDir(t);
      const result = await bootOnce(dir, env);
      assert.equal(result.slot, slot, result.console.slice(-1500));
      assert.deepEqual(result.after, { ...env, ...changed });
      if (slot === '') assert.match(result.console, /abupdate: no bootable slot/);
      else assert.match(result.console, new RegExp(`abupdate: chose slot ${slot}`));
    });
  }
});
