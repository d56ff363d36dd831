// Issue 15 item 5: RAUC's documented GRUB script (contrib/grub.conf of Debian's rauc source, qemu/guest/rauc-grub-script.ts)
// run by stock GRUB in QEMU under OVMF, over the grubenv block that BOOTLOADER=grubenv-rauc (abupdate's backend)
// writes: it picks the slot abupdate activated, spends its one boot (B_TRY=1), falls back to the other slot when that
// boot was not committed, and boots it again once abupdate's mark-good committed it. Each GRUB run is checked
// against the backend's model of the script (applyRaucOperation 'boot') and read back through the backend.

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { makeSlotDisk } from '../fixtures/disk.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { openGptprioBootControl } from '../partition/gptprio.js';
import { readGrubEnv } from '../partition/grubenv.js';
import { applyRaucOperation, openGrubenvRaucBootControl } from '../partition/grubenv-rauc-boot-control.js';
import type { BootControl } from '../partition/boot-control.js';
import type { SlotName } from '../partition/slots.js';
import { buildStandaloneGrub, grubenvFile, listGrubenv, runStandaloneGrub } from './harness/grub-standalone.js';
import { raucGrubScript } from './guest/rauc-grub-script.js';

describe("RAUC's GRUB script in stock GRUB over abupdate's grubenv-rauc block", { timeout: 15 * 60_000 }, () => {
  let efi: string;
  let dir: string;
  let script: string;
  after(() => rm(dir, { recursive: true, force: true }));

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'abupdate-rauc-grub-'));
    efi = await buildStandaloneGrub(dir);
    const rauc = await raucGrubScript();
    script = rauc.text;
    process.stderr.write(`[rauc-grub] the script: ${rauc.source}\n`);
  });

  /** The host: a grubenv as RAUC's installer leaves it (A committed and first), and abupdate's grubenv-rauc control over it. */
  async function host(t: { after(fn: () => unknown): void }): Promise<{ work: string; grubenv: string; control: BootControl }> {
    const work = await makeTempDir(t);
    const disk = await makeSlotDisk(work, { bootloader: 'grubenv' });
    const { slots } = await openGptprioBootControl(disk.path);
    const grubenv = path.join(work, 'grubenv');
    await grubenvFile(grubenv, { ORDER: 'A B', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' });
    return { work, grubenv, control: openGrubenvRaucBootControl(grubenv, slots) };
  }

  /**
   * One boot: RAUC's script, then the slot it chose (its menu entry index: 1 = A, 2 = B, 0 = rescue) and the
   * grubenv GRUB saved, which replaces the host's (the same block on a real ESP). Checked against the model.
   */
  async function boot(h: { work: string; grubenv: string }): Promise<SlotName | 'rescue'> {
    const before = await readGrubEnv(h.grubenv);
    const grubCfg = `${script}\necho "RESULT default=\${default}"\nhalt\n`;
    const run = await runStandaloneGrub({ dir: h.work, efi, grubCfg, grubenv: h.grubenv, done: /RESULT default=\d/ });
    const index = /RESULT default=(\d)/.exec(run.console)?.[1];
    const chosen = index === '1' ? 'A' : index === '2' ? 'B' : 'rescue';
    if (chosen !== 'rescue') {
      const model = path.join(h.work, 'model.env');
      await grubenvFile(model, Object.fromEntries(applyRaucOperation(before, 'boot', chosen)));
      assert.deepEqual(await listGrubenv(run.grubenvAfter), await listGrubenv(model), `the script's writes booting ${chosen} are the model's`);
    }
    await copyFile(run.grubenvAfter, h.grubenv);
    return chosen;
  }

  const flags = async (control: BootControl) => Object.fromEntries((await control.status()).map((s) => [s.name, { priority: s.priority, successful: s.successful, state: s.state }]));

  test('abupdate mark-active B: the script boots B once (B_TRY=1); not committed, the next boot falls back to A', async (t) => {
    const h = await host(t);
    assert.equal(await boot(h), 'A', 'before the update the committed A boots');
    await h.control.markGood('A'); // post-boot on A (RAUC marks the booted slot good after every boot)
    await h.control.markActive('B');
    assert.deepEqual(await listGrubenv(h.grubenv), { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '1', B_TRY: '0' });
    assert.equal(await boot(h), 'B', 'the slot abupdate activated boots');
    assert.equal((await listGrubenv(h.grubenv)).B_TRY, '1', 'its one boot is spent');
    assert.equal((await flags(h.control)).B?.successful, false, 'abupdate reads B as not committed');
    // B's boot never committed it (health check failed, or the power went): RAUC's script passes it over.
    assert.equal(await boot(h), 'A', 'falls back to A');
    assert.equal(await boot(h), 'rescue', 'with neither slot marked good again, the script picks no slot (its rescue entry)');
    // ... and, having picked none, it clears the tried marks of the slots still OK, so the next boot tries A again.
    const { stdout } = await execa('grub-editenv', [h.grubenv, 'list']);
    assert.match(stdout, /^A_TRY=0$/m);
    assert.match(stdout, /^B_TRY=0$/m);
  });

  test('abupdate mark-good B after the trial boot: the script keeps booting B', async (t) => {
    const h = await host(t);
    await h.control.markActive('B');
    assert.equal(await boot(h), 'B');
    await h.control.markGood('B'); // post-boot's commit on B
    assert.deepEqual(await listGrubenv(h.grubenv), { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '1', B_TRY: '0' });
    assert.deepEqual((await flags(h.control)).B, { priority: 2, successful: true, state: 'good' });
    assert.equal(await boot(h), 'B', 'the committed B boots again');
    await h.control.markGood('B');
    await h.control.markBad('B'); // abupdate rollback/mark-bad: B_OK=0
    assert.equal(await boot(h), 'A', 'a slot abupdate marked bad is skipped');
  });
});
