// Scenario 4 of issue 7: power cuts during download/write, read-back and the flip; every boot is on a good slot, the install resumes.

import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir } from '../fixtures/tmp.js';
import { readGptprio, readGrubenv } from './harness/host-flags.js';
import { Machine, type BootPath } from './harness/machine.js';
import { POST_BOOT } from './harness/guest-scripts.js';
import { CUT_RUN, describeMoment, FINAL_RUN, flipped, lastProgress, waitForMoment, type Moment } from './harness/power-cuts.js';
import { GUEST_COMPATIBLE, prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';
import { serialLines } from './harness/serial-watch.js';
import { prng } from '../fixtures/prng.js';

/** Seed of the cut delays; ABUPDATE_QEMU_SEED=<n> reproduces a printed run. */
const SEED = Number(process.env['ABUPDATE_QEMU_SEED'] ?? 20261126);

const DOWNLOAD = (at: number): Moment => ({ phase: 'download', at, maxDelayMs: 1000 });
/** The read-back (~2.5 s for this image here) reports its bytes like the download: "mid" is half of them read back. */
const READBACK_START: Moment = { phase: 'readback', maxDelayMs: 300 };
const READBACK_MID: Moment = { phase: 'readback', at: 0.5, maxDelayMs: 300 };
const MOMENTS: Record<BootPath, Moment[]> = {
  gptprio: [
    DOWNLOAD(0),
    DOWNLOAD(0.15),
    DOWNLOAD(0.3),
    DOWNLOAD(0.45),
    DOWNLOAD(0.6),
    DOWNLOAD(0.75),
    DOWNLOAD(0.9),
    READBACK_START,
    READBACK_MID,
    { phase: 'flip', maxDelayMs: 150 },
    { phase: 'flipped', maxDelayMs: 200 },
  ],
  grubenv: [DOWNLOAD(0.35), READBACK_MID, { phase: 'flip', maxDelayMs: 150 }, { phase: 'flipped', maxDelayMs: 200 }],
};

const BOOT_PATHS = ['gptprio', 'grubenv'] as const satisfies readonly BootPath[];

// The two boot paths run at the same time (two qemus on two cores), each with its own server: its byte count is its own.
describe('QEMU scenario 4: power cuts during an install never leave an unbootable host, and the install resumes', { timeout: 40 * 60_000, concurrency: 2 }, () => {
  const envs = new Map<BootPath, ScenarioEnv>();
  let bundleSize: number;

  before(async () => {
    // One after the other: the second finds the guest and slot images cached and only signs its own bundle.
    for (const bootPath of BOOT_PATHS) {
      const env = await prepareScenario({
        bundles: ['2.0.0'],
        files: (publicKey) => ({
          '/etc/abupdate/keys.d/qemu.pub': publicKey,
          '/etc/abupdate/update.conf': `COMPATIBLE=${GUEST_COMPATIBLE}\nDISK=/dev/vda\nSERVER=disabled\n`,
        }),
      });
      envs.set(bootPath, env);
      bundleSize = (await stat(env.bundles['2.0.0'] ?? '')).size;
    }
  });
  after(async () => {
    for (const env of envs.values()) await env.close();
  });

  for (const bootPath of BOOT_PATHS) {
    const moments = MOMENTS[bootPath];
    test(`${bootPath} path: ${moments.length} power cuts (${moments.map(describeMoment).join(', ')}); each boot is A (v1, good) until the flip, then the install completes and B is committed`, async (t) => {
      const env = envs.get(bootPath);
      assert.ok(env);
      const seed = SEED + (bootPath === 'grubenv' ? 1 : 0);
      const random = prng(seed);
      const print = (line: string) => process.stderr.write(`[power-cut-${bootPath}] ${line}\n`);
      print(`seed ${seed} (ABUPDATE_QEMU_SEED=${SEED} reproduces), bundle ${bundleSize} bytes`);
      const served = () => env.server.requests.filter((r) => r.path === 'v2.0.0.bundle');
      const servedBefore = served().length;
      const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: `power-cut-${bootPath}`, bootPath, serverPort: env.port });
      await machine.run(async () => {
        let landed = false;
        const resumed: number[] = [];
        for (const [i, moment] of moments.entries()) {
          const delay = Math.floor(random() * moment.maxDelayMs);
          const vm = await machine.start({ run: CUT_RUN });
          const booted = await vm.waitForMarker({ booted: /./ }, 5 * 60_000);
          assert.deepEqual([booted.fields['booted'], booted.fields['version'], booted.fields['state']], ['A', '1.0.0', 'good'], `boot before cut ${i + 1}`);
          const seen = await waitForMoment(vm, moment, 10 * 60_000);
          await sleep(delay);
          const last = lastProgress(vm);
          await machine.powerCut(vm);
          const resume = serialLines(vm).map((l) => /resuming: (\d+) of \d+ chunks/.exec(l)).find((m) => m !== null);
          if (resume) resumed.push(Number(resume[1]));
          print(
            `cut ${i + 1}/${moments.length} at ${describeMoment(moment)} +${delay} ms: triggered by ${JSON.stringify({ phase: seen.phase, done: seen.done, event: seen.event })}, ` +
              `last event ${JSON.stringify(last && { event: last.event, phase: last.phase, done: last.done, text: last.text })}` +
              `${resume ? `, this boot resumed with ${resume[1]} chunks` : ''}`,
          );
          // The flags must be consistent after every cut: before the flip (A boots next) or after it (B on trial).
          landed = await flipped(machine, bootPath);
          if (moment.phase === 'download') assert.ok(!landed, 'a cut during the download left B bootable');
          if (moment.phase === 'flipped') assert.ok(landed, 'the install reported the flip, so it must have landed');
          if (moment.phase !== 'download') print(`after the cut the flags say the flip ${landed ? 'landed: B boots next' : 'did not land: A boots next'}`);
          if (landed) break;
        }
        // Earlier cuts in the write phase left chunks that later boots kept.
        assert.ok(resumed.filter((n) => n > 0).length >= Math.min(3, moments.filter((m) => m.phase === 'download').length), `boots resumed with chunks: ${resumed.join(', ')}`);

        if (!landed) {
          const final = await machine.boot({ run: FINAL_RUN, timeoutMs: 10 * 60_000 });
          assert.deepEqual([final.slot, final.version, final.state, final.end], ['A', '1.0.0', 'good', 'reboot']);
          assert.equal((await machine.vms.at(-1)?.waitForMarker({ step: 'install' }, 1))?.fields['code'], '0');
          assert.ok(await flipped(machine, bootPath), 'the completed install flipped to B');
        }
        const bytes = served().slice(servedBefore).reduce((sum, r) => sum + r.bytes, 0);
        const ranged = served().slice(servedBefore).filter((r) => r.status === 206).length;
        print(`server sent ${bytes} bytes of the bundle (${(bytes / bundleSize).toFixed(2)}x its size) in ${served().length - servedBefore} requests (${ranged} Range)`);
        assert.ok(bytes < 2.5 * bundleSize, `the install started over instead of resuming: ${bytes} bytes served for a ${bundleSize}-byte bundle`);

        // B boots on its one try; post-boot commits it.
        const onB = await machine.boot({ run: POST_BOOT, timeoutMs: 5 * 60_000 });
        assert.deepEqual([onB.slot, onB.version, onB.state, onB.end], ['B', '2.0.0', 'trying', 'poweroff']);
        assert.equal((await machine.vms.at(-1)?.waitForMarker({ step: 'post-boot' }, 1))?.fields['code'], '0');
        if (bootPath === 'grubenv') assert.equal((await readGrubenv(machine.disk, machine.layout))['B_OK'], '1');
        else assert.equal((await readGptprio(machine.disk, machine.layout, 'B')).successful, 1);
      });
    });
  }
});
