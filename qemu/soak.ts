// npm run soak:qemu -- --cuts 50 [--seed S] [--json]: seeded power cuts (SIGKILL to qemu) over the download, the
// read-back, the flip and the commit, on both boot paths at once (gptprio: the initramfs applies gptprio.next with
// cgpt; grubenv: OVMF + GRUB + partition/grub/abupdate-ab.cfg). Every boot must land on a good slot: A with v1
// (committed) or B with v2 (on trial or committed). Not part of CI (too slow); docs/qemu.md records a run.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { prng } from '../fixtures/prng.js';
import { POST_BOOT } from './harness/guest-scripts.js';
import { Machine, type BootPath, type BootRecord } from './harness/machine.js';
import { CUT_RUN, describeMoment, FINAL_RUN, flipped, waitForMoment, type Moment } from './harness/power-cuts.js';
import { GUEST_COMPATIBLE, prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';
import type { Vm } from './harness/vm.js';

const HELP = `Usage: npm run soak:qemu -- [--cuts N] [--seed S] [--json]

Boots the QEMU guest (v1 on A) again and again, on both boot paths at once, and cuts its power at seeded moments:
during the download (at a random share of the bytes), the read-back, the flip (the GPT or grubenv writes), right
after the flip, and during post-boot's commit. Each episode is a fresh disk: cuts until the install's flip lands
(or it completes), then B's trial boot, maybe cut. Every boot must come up on a good slot (A v1 committed, or B v2
on trial or committed), the flags after each cut must be before or after the flip, never between.
--cuts N   power cuts to make over both paths (default 50)
--seed S   PRNG seed (default 1): the moments and delays; the same seed replays the same decisions`;

type Where = 'download' | 'readback' | 'flip' | 'flipped' | 'commit';

export interface QemuSoakReport {
  seed: number;
  cuts: number;
  boots: number;
  episodes: number;
  commits: number;
  /** Trial boots whose commit was cut before it landed: the next boot fell back to A (the automatic rollback). */
  fellBack: number;
  /** Boots that came up on no slot, a bad one, or the wrong version. */
  badBoots: number;
  cutsBy: Record<string, number>;
  byPath: Record<BootPath, { cuts: number; boots: number; episodes: number }>;
  problems: string[];
  seconds: number;
}

/** post-boot, then idle: the harness cuts during or after the commit. */
const POST_BOOT_THEN_IDLE = `${POST_BOOT}sleep 600\n`;

function pickInstallMoment(rnd: () => number): Moment {
  const r = rnd();
  if (r < 0.5) return { phase: 'download', at: rnd() * 0.95, maxDelayMs: 1000 };
  if (r < 0.75) return { phase: 'readback', at: rnd() * 0.9, maxDelayMs: 300 };
  if (r < 0.9) return { phase: 'flip', maxDelayMs: 150 };
  return { phase: 'flipped', maxDelayMs: 200 };
}

async function soakPath(bootPath: BootPath, env: ScenarioEnv, share: number, seed: number, report: QemuSoakReport, work: string, log: (line: string) => void): Promise<void> {
  const rnd = prng(seed);
  const stats = report.byPath[bootPath];
  const problem = (text: string) => {
    const line = `${bootPath} episode ${stats.episodes} boot ${stats.boots}: ${text} (seed ${seed})`;
    report.problems.push(line);
    log(`PROBLEM ${line}`);
  };
  const cut = (where: Where) => {
    stats.cuts += 1;
    report.cuts += 1;
    report.cutsBy[`${bootPath} ${where}`] = (report.cutsBy[`${bootPath} ${where}`] ?? 0) + 1;
  };
  /** A boot's record must name a good slot: A v1 committed, or B v2 on trial or committed. */
  const judge = (record: BootRecord, expect?: Array<[string, string, string]>) => {
    stats.boots += 1;
    report.boots += 1;
    const got: [string, string, string] = [record.slot ?? '-', record.version ?? '-', record.state ?? '-'];
    const good: Array<[string, string, string]> = expect ?? [
      ['A', '1.0.0', 'good'],
      ['B', '2.0.0', 'trying'],
      ['B', '2.0.0', 'good'],
    ];
    if (!good.some((g) => g.join() === got.join())) {
      report.badBoots += 1;
      problem(`booted ${got.join('/')} (end ${record.end}), expected one of ${good.map((g) => g.join('/')).join(', ')}`);
      return false;
    }
    return true;
  };
  const bootedOf = async (vm: Vm) => {
    const marker = await vm.waitForMarker({ booted: /./ }, 5 * 60_000);
    return [marker.fields['booted'] ?? '-', marker.fields['version'] ?? '-', marker.fields['state'] ?? '-'].join('/');
  };

  while (stats.cuts < share && report.problems.length === 0) {
    stats.episodes += 1;
    report.episodes += 1;
    const dir = await mkdtemp(path.join(work, `${bootPath}-`));
    const machine = await Machine.create({ guest: env.guest, dir, name: `soak-${bootPath}-${stats.episodes}`, bootPath, serverPort: env.port, print: () => {} });
    try {
      await machine.run(async () => {
        // the install, cut until its flip lands (at most four cuts an episode)
        let landed = false;
        for (let i = 0; i < 4 && !landed && stats.cuts < share; i++) {
          const moment = pickInstallMoment(rnd);
          const delay = Math.floor(rnd() * moment.maxDelayMs);
          const vm = await machine.start({ run: CUT_RUN });
          const booted = await bootedOf(vm);
          if (booted !== 'A/1.0.0/good') problem(`the boot before a cut is ${booted}, not A/1.0.0/good`);
          try {
            await waitForMoment(vm, moment, 10 * 60_000);
          } catch (error) {
            // the install ended (or was past the moment) before the cut: not a cut; the flags say where it is
            log(`${bootPath}: no cut at ${describeMoment(moment)}: ${(error as Error).message}`);
            await machine.powerCut(vm);
            stats.boots += 1;
            report.boots += 1;
            landed = await flipped(machine, bootPath);
            continue;
          }
          await sleep(delay);
          judge(await machine.powerCut(vm));
          cut(moment.phase);
          landed = await flipped(machine, bootPath);
          if (moment.phase === 'download' && landed) problem('a cut during the download left B bootable');
          if (moment.phase === 'flipped' && !landed) problem('the install reported the flip, but after the cut the flags say it did not land');
          log(`${bootPath} cut ${stats.cuts}/${share} at ${describeMoment(moment)} +${delay} ms: flip ${landed ? 'landed' : 'not landed'}`);
        }
        if (!landed) {
          const final = await machine.boot({ run: FINAL_RUN, timeoutMs: 10 * 60_000 });
          judge(final, [['A', '1.0.0', 'good']]);
          if (!(await flipped(machine, bootPath))) problem('the resumed install completed but the flags say A boots next');
        }
        // B's trial boot: cut during post-boot (at a seeded moment) or let it commit
        if (rnd() < 0.6 && stats.cuts < share) {
          const vm = await machine.start({ run: POST_BOOT_THEN_IDLE });
          const booted = await bootedOf(vm);
          if (booted !== 'B/2.0.0/trying') problem(`the trial boot is ${booted}, not B/2.0.0/trying`);
          // anchored on the boot marker (inside the health check and the commit) or on post-boot's end (just after)
          if (rnd() < 0.6) await sleep(Math.floor(rnd() * 6000));
          else {
            await vm.waitForMarker({ step: 'post-boot' }, 5 * 60_000).catch(() => undefined);
            await sleep(Math.floor(rnd() * 300));
          }
          const committedBefore = vm.markers.some((m) => m.fields['step'] === 'post-boot' && m.fields['code'] === '0');
          judge(await machine.powerCut(vm));
          cut('commit');
          const after = await machine.boot({ timeoutMs: 5 * 60_000 });
          // the commit landed (B good), or it did not and B's one try is spent: the bootloader falls back to A
          const ok = judge(after, committedBefore ? [['B', '2.0.0', 'good']] : [['B', '2.0.0', 'good'], ['A', '1.0.0', 'good']]);
          if (ok && after.slot === 'A') report.fellBack += 1;
          if (ok && after.slot === 'B') report.commits += 1;
          log(`${bootPath} cut ${stats.cuts}/${share} in the commit: next boot ${after.slot}/${after.state}${committedBefore ? ' (post-boot had reported the commit)' : ''}`);
        } else {
          const onB = await machine.boot({ run: POST_BOOT, timeoutMs: 5 * 60_000 });
          if (judge(onB, [['B', '2.0.0', 'trying']])) report.commits += 1;
        }
      });
    } catch (error) {
      problem(`the episode failed: ${(error as Error).message}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

export async function runQemuSoak(options: { cuts: number; seed: number; log?: ((line: string) => void) | undefined }): Promise<QemuSoakReport> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const report: QemuSoakReport = {
    seed: options.seed, cuts: 0, boots: 0, episodes: 0, commits: 0, fellBack: 0, badBoots: 0, cutsBy: {},
    byPath: { gptprio: { cuts: 0, boots: 0, episodes: 0 }, grubenv: { cuts: 0, boots: 0, episodes: 0 } }, problems: [], seconds: 0,
  };
  const work = await mkdtemp(path.join(tmpdir(), 'abupdate-soak-qemu-'));
  const envs: ScenarioEnv[] = [];
  try {
    const paths = ['gptprio', 'grubenv'] as const;
    for (let i = 0; i < paths.length; i++) {
      envs.push(
        await prepareScenario({
          bundles: ['2.0.0'],
          files: (publicKey) => ({
            '/etc/abupdate/keys.d/qemu.pub': publicKey,
            '/etc/abupdate/update.conf': `COMPATIBLE=${GUEST_COMPATIBLE}\nDISK=/dev/vda\nSERVER=disabled\n`,
          }),
        }),
      );
    }
    // the two paths at once, two qemus on two cores; the cuts split between them
    const gptprioShare = Math.ceil(options.cuts / 2);
    await Promise.all(
      paths.map((bootPath, i) =>
        soakPath(bootPath, envs[i] as ScenarioEnv, bootPath === 'gptprio' ? gptprioShare : options.cuts - gptprioShare, options.seed * 2 + i, report, work, log),
      ),
    );
  } finally {
    for (const env of envs) await env.close();
    await rm(work, { recursive: true, force: true });
  }
  report.seconds = Math.round((Date.now() - started) / 1000);
  return report;
}

export function describeQemuSoak(r: QemuSoakReport): string {
  return [
    `soak:qemu seed ${r.seed}: ${r.cuts} power cuts over ${r.boots} boots in ${r.episodes} episodes (${r.commits} commits, ${r.fellBack} trial boots whose commit was cut fell back to A), ${r.seconds} s`,
    ...Object.entries(r.byPath).map(([p, s]) => `  ${p.padEnd(8)} ${s.cuts} cuts, ${s.boots} boots, ${s.episodes} episodes`),
    'cuts by moment:',
    ...Object.entries(r.cutsBy)
      .sort()
      .map(([k, n]) => `  ${k.padEnd(18)} ${n}`),
    `boots on no slot or a bad one: ${r.badBoots}`,
    `problems: ${r.problems.length}`,
    ...r.problems.map((p) => `  ${p}`),
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { cuts: { type: 'string', default: '50' }, seed: { type: 'string', default: '1' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const cuts = Number(values.cuts);
  const seed = Number(values.seed);
  if (!Number.isInteger(cuts) || cuts < 1 || !Number.isInteger(seed)) {
    console.error(`Cannot run soak:qemu: --cuts "${values.cuts}" and --seed "${values.seed}" must be whole numbers, the cuts at least 1 [ERR_USAGE]`);
    return 2;
  }
  const report = await runQemuSoak({ cuts, seed, log: values.json ? undefined : (line) => console.log(line) });
  console.log(values.json ? JSON.stringify(report, null, 2) : describeQemuSoak(report));
  return report.problems.length === 0 && report.badBoots === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
