// The crash-state explorer: records the persistent writes of real operations through the injected file system
// (install, resumed install, post-boot commit and rollback, manual rollback, mark-*, clear-bad), generates the states
// a power cut can leave (crash-states.ts), lays each onto a copy of the scene and checks the promise with the real
// readers: cgpt for the flags (GRUB's gptprio rule), the slot bytes against verified versions, the floor, and
// (for a sample) that a rerun of the operation recovers.

import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { imageBytes } from '../../fixtures/bundle.js';
import { engineInstallOptions, makeInstallEnv, type InstallEnv } from '../../fixtures/install-env.js';
import { selectBootSlot, simulateBoot, type SlotFlags } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { openGrubenvBootControl } from '../../partition/grubenv-boot-control.js';
import type { BootControl } from '../../partition/boot-control.js';
import { otherSlot, type SlotName } from '../../partition/slots.js';
import { installBundle } from '../../src/engine/install.js';
import { applyEngineEvent } from '../../src/engine/lifecycle.js';
import { loadEngineState } from '../../src/engine/state-store.js';
import { rollbackToOther } from '../../src/lifecycle/manual-rollback.js';
import { runPostBoot } from '../../src/lifecycle/post-boot.js';
import { compareVersions } from '../../verify/version.js';
import { prefixStates, sampledState, tornStates, type AppliedOp, type CrashState } from './crash-states.js';
import { recordingFs, type TraceOp } from './recording-fs.js';
import type { FileSystem } from '../../common/file-system.js';

const OPERATIONS = ['install', 'resumed-install', 'post-boot-commit', 'post-boot-rollback', 'manual-rollback', 'mark', 'clear-bad'] as const;
/** Every operation traced on each backend: gptprio (flags in the GPT) and grubenv (flags in a GRUB environment block). */
export const TRACE_NAMES = [...OPERATIONS, ...OPERATIONS.map((name) => `grubenv:${name}` as const)] as const;
export type TraceName = (typeof TRACE_NAMES)[number];
export type Bootloader = 'gptprio' | 'grubenv';

interface Verified {
  version: string;
  size: number;
  sha256: string;
}

/** A recorded operation: the scene before it (BASE, a directory with disk.img and state/), its trace, how to rerun it. */
export interface RecordedTrace {
  name: TraceName | string;
  /** Where the flags live: the GPT (read by cgpt) or the grubenv file GRUBENV (read by grub-editenv). */
  bootloader: Bootloader;
  base: string;
  trace: TraceOp[];
  booted: SlotName;
  slots: Record<SlotName, { partition: number; offset: number; size: number }>;
  images: Verified[];
  floor: string | null;
  /** Runs the same operation again on the scene copied to ROOT (recovery). */
  rerun(root: string): Promise<void>;
}

const DISK = 'disk.img';
const STATE = 'state';
const GRUBENV = 'grubenv';

/** The scene files a trace writes, copied from FROM to TO (the disk sparse). */
async function copyScene(from: string, to: string): Promise<void> {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  await execa('cp', ['--sparse=always', path.join(from, DISK), path.join(to, DISK)]);
  if (existsSync(path.join(from, STATE))) cpSync(path.join(from, STATE), path.join(to, STATE), { recursive: true });
  if (existsSync(path.join(from, GRUBENV))) cpSync(path.join(from, GRUBENV), path.join(to, GRUBENV));
}

interface Scene {
  bootloader: Bootloader;
  env: InstallEnv;
  /** The live scene: the operations run here (dir/disk.img, dir/state). */
  live: string;
  images: Verified[];
  health: string;
  work: string;
}

async function makeScene(work: string, cleanups: Array<() => unknown>, bootloader: Bootloader): Promise<Scene> {
  const env = await makeInstallEnv({ after: (fn) => void cleanups.push(fn) }, work, { imageSize: 256 * 1024 + 4096, slotSizeMiB: 2, chunkSize: 65536 });
  if (bootloader === 'grubenv') {
    // the block grub-editenv makes, with A committed and first (what a host's image ships)
    const file = path.join(work, GRUBENV);
    await execa('grub-editenv', [file, 'create']);
    await execa('grub-editenv', [file, 'set', 'ORDER=A', 'A_OK=1', 'A_TRY=0']);
  }
  const v1 = imageBytes(2 * 1024 * 1024, '1.0.0');
  const images = [
    { version: '1.0.0', size: v1.length, sha256: createHash('sha256').update(v1).digest('hex') },
    { version: env.bundle.manifest.version, size: env.bundle.manifest.image.size, sha256: env.bundle.manifest.image.sha256 },
  ];
  const health = path.join(work, 'health.d');
  await mkdir(health);
  return { bootloader, env, live: work, images, health, work };
}

async function setHealth(scene: Scene, ok: boolean): Promise<void> {
  const file = path.join(scene.health, '10-app');
  await writeFile(file, `#!/bin/sh\nexit ${ok ? 0 : 1}\n`);
  await chmod(file, 0o755);
}

function rooted(scene: Scene, root: string) {
  return { disk: path.join(root, DISK), state: path.join(root, STATE) };
}

/** The scene's boot control on the copy at ROOT, writing through FS (the GPT is only read on the grubenv scene). */
async function openControl(bootloader: Bootloader, root: string, fs?: FileSystem): Promise<{ control: BootControl; slots: Awaited<ReturnType<typeof openGptprioBootControl>>['slots'] }> {
  const gpt = await openGptprioBootControl(path.join(root, DISK), fs && bootloader === 'gptprio' ? { fs } : {});
  if (bootloader === 'gptprio') return gpt;
  return { control: openGrubenvBootControl(path.join(root, GRUBENV), gpt.slots, fs ? { fs } : {}), slots: gpt.slots };
}

async function install(scene: Scene, root: string, fs?: FileSystem): Promise<void> {
  const r = rooted(scene, root);
  const { control, slots } = await openControl(scene.bootloader, root, fs);
  const options = await engineInstallOptions(scene.env, { diskPath: r.disk, control, slots, stateDir: r.state, runDir: path.join(root, 'run'), ...(fs ? { fs } : {}) });
  await installBundle(options);
}

async function postBoot(scene: Scene, root: string, booted: SlotName, fs?: FileSystem) {
  const r = rooted(scene, root);
  const { control } = await openControl(scene.bootloader, root, fs);
  return runPostBoot({
    control, booted, stateDir: r.state, ...(fs ? { fs } : {}),
    health: { dir: scene.health, units: [], timeoutMs: 3000, retryDelayMs: 50, checkTimeoutMs: 2000 },
    reboot: async () => {}, releaseLock: async () => {}, report: async () => {},
  });
}

async function boot(scene: Scene, root: string): Promise<SlotName> {
  const { control } = await openControl(scene.bootloader, root);
  const { slot } = await simulateBoot(control);
  if (!slot) throw new Error('no bootable slot');
  return slot;
}

/** Records OP on the live scene (whose state now is the base); returns the trace. */
async function record(scene: Scene, name: string, booted: SlotName, op: (fs: FileSystem) => Promise<unknown>, rerun: RecordedTrace['rerun']): Promise<RecordedTrace> {
  const base = path.join(scene.work, `base-${name}`);
  await copyScene(scene.live, base);
  const floor = (await loadEngineState(path.join(scene.live, STATE))).floorVersion;
  const fs = recordingFs(scene.live);
  await op(fs);
  const { A, B } = scene.env.disk.slots;
  return { name: scene.bootloader === 'gptprio' ? name : `${scene.bootloader}:${name}`, bootloader: scene.bootloader, base, trace: fs.trace, booted, slots: { A, B }, images: scene.images, floor, rerun };
}

/** Records every trace of TRACE_NAMES: the operations of OPERATIONS on a gptprio scene and on a grubenv scene. */
export async function recordTraces(work: string, cleanups: Array<() => unknown>): Promise<RecordedTrace[]> {
  const traces: RecordedTrace[] = [];
  for (const bootloader of ['gptprio', 'grubenv'] as const) {
    const dir = path.join(work, bootloader);
    mkdirSync(dir);
    traces.push(...(await recordSceneTraces(await makeScene(dir, cleanups, bootloader))));
  }
  return traces;
}

/** Records the operations on one scene, in the order a host lives them. */
async function recordSceneTraces(scene: Scene): Promise<RecordedTrace[]> {
  const traces: RecordedTrace[] = [];
  // a resumed install: an install cut off after a few slot writes (the fs fails there), then the rerun recorded
  const failing = recordingFs(scene.live);
  let writes = 0;
  const cut: FileSystem = {
    ...failing,
    open: (async (...args: Parameters<FileSystem['open']>) => {
      const handle = await failing.open(...args);
      return new Proxy(handle, {
        get(target, key) {
          if (key === 'write' && String(args[0]).endsWith(DISK)) {
            return async (...a: unknown[]) => {
              if (++writes > 2) throw Object.assign(new Error('simulated crash'), { code: 'EIO' });
              return (target.write as (...x: unknown[]) => unknown)(...a);
            };
          }
          const value = Reflect.get(target, key, target) as unknown;
          return typeof value === 'function' ? (value as (...x: unknown[]) => unknown).bind(target) : value;
        },
      });
    }) as FileSystem['open'],
  };
  await install(scene, scene.live, cut).catch(() => undefined);
  traces.push(await record(scene, 'resumed-install', 'A', (fs) => install(scene, scene.live, fs), (root) => install(scene, root)));
  // post-boot rollback: B booted on trial, its health check fails
  await setHealth(scene, false);
  const trial = await boot(scene, scene.live);
  traces.push(await record(scene, 'post-boot-rollback', trial, (fs) => postBoot(scene, scene.live, trial, fs), (root) => postBoot(scene, root, trial).then(() => undefined)));
  const back = await boot(scene, scene.live);
  const stateDir = (root: string) => path.join(root, STATE);
  traces.push(await record(scene, 'clear-bad', back, (fs) => applyEngineEvent(stateDir(scene.live), 'bad-versions-cleared', { badVersions: [] }, { fs }), (root) =>
    applyEngineEvent(stateDir(root), 'bad-versions-cleared', { badVersions: [] }).then(() => undefined)));
  // a full install: slot B zeroed first, so every chunk is written
  const fd = openSync(path.join(scene.live, DISK), 'r+');
  writeSync(fd, Buffer.alloc(scene.env.disk.slots.B.size), 0, scene.env.disk.slots.B.size, scene.env.disk.slots.B.offset);
  closeSync(fd);
  traces.push(await record(scene, 'install', back, (fs) => install(scene, scene.live, fs), (root) => install(scene, root)));
  await setHealth(scene, true);
  const bootedB = await boot(scene, scene.live);
  traces.push(await record(scene, 'post-boot-commit', bootedB, (fs) => postBoot(scene, scene.live, bootedB, fs), (root) => postBoot(scene, root, bootedB).then(() => undefined)));
  const rollback = async (root: string, fs?: FileSystem) => {
    const { control } = await openControl(scene.bootloader, root, fs);
    await rollbackToOther({ control, booted: bootedB, stateDir: stateDir(root), ...(fs ? { fs } : {}) });
  };
  traces.push(await record(scene, 'manual-rollback', bootedB, (fs) => rollback(scene.live, fs), (root) => rollback(root)));
  const bootedA = await boot(scene, scene.live);
  // mark-*: the other slot demoted, activated for a try, the booted one committed again
  const marks = async (root: string, fs?: FileSystem) => {
    const { control } = await openControl(scene.bootloader, root, fs);
    const other = otherSlot(bootedA);
    await control.markBad(other);
    await control.markActive(other, 1);
    await control.markGood(bootedA);
  };
  traces.push(await record(scene, 'mark', bootedA, (fs) => marks(scene.live, fs), (root) => marks(root)));
  return traces;
}

/** Lays STATE's ops onto ROOT (a copy of the base); returns the disk byte ranges it changed, to undo. */
function layState(root: string, trace: readonly TraceOp[], ops: readonly AppliedOp[]): Array<[number, number]> {
  const touched: Array<[number, number]> = [];
  const p = (rel: string) => path.join(root, rel);
  for (const { index, bytes } of ops) {
    const op = trace[index] as TraceOp;
    if (op.op === 'write') {
      if (!existsSync(p(op.path))) continue; // its create did not persist
      const data = bytes === undefined ? op.data : op.data.subarray(0, bytes);
      const fd = openSync(p(op.path), 'r+');
      try {
        writeSync(fd, data, 0, data.length, op.offset);
      } finally {
        closeSync(fd);
      }
      if (op.path === DISK) touched.push([op.offset, data.length]);
    } else if (op.op === 'truncate') {
      if (existsSync(p(op.path))) truncateSync(p(op.path), op.size);
    } else if (op.op === 'create') {
      if (existsSync(path.dirname(p(op.path)))) closeSync(openSync(p(op.path), 'w'));
    } else if (op.op === 'rename') {
      if (existsSync(p(op.from))) renameSync(p(op.from), p(op.to));
    } else if (op.op === 'unlink') {
      if (existsSync(p(op.path))) unlinkSync(p(op.path));
    } else if (op.op === 'mkdir') {
      mkdirSync(p(op.path), { recursive: true });
    }
  }
  return touched;
}

function undoDisk(root: string, base: string, touched: Array<[number, number]>): void {
  const from = openSync(path.join(base, DISK), 'r');
  const to = openSync(path.join(root, DISK), 'r+');
  try {
    for (const [offset, length] of touched) {
      const buffer = Buffer.alloc(length);
      readSync(from, buffer, 0, length, offset);
      writeSync(to, buffer, 0, length, offset);
    }
  } finally {
    closeSync(from);
    closeSync(to);
  }
}

export interface Explorer {
  /** Checks one crash state of TRACE; returns the broken parts of the promise (empty: fine). */
  check(trace: RecordedTrace, state: CrashState, options?: { recover?: boolean }): Promise<string[]>;
}

export function makeExplorer(work: string): Explorer {
  const gptCache = new Map<string, Record<SlotName, SlotFlags> | null>();
  const slotCache = new Map<string, string | undefined>();
  const cgptFlags = async (disk: string, slots: RecordedTrace['slots']): Promise<Record<SlotName, SlotFlags> | null> => {
    // the flags depend only on the table's sectors: LBA 0-33 and the last 33 (cgpt's answer is cached by their hash)
    const fd = openSync(disk, 'r');
    const head = Buffer.alloc(34 * 512);
    const tail = Buffer.alloc(33 * 512);
    try {
      readSync(fd, head, 0, head.length, 0);
      const size = Number(fstatSync(fd).size);
      readSync(fd, tail, 0, tail.length, size - tail.length);
    } finally {
      closeSync(fd);
    }
    const key = createHash('sha1').update(head).update(tail).digest('hex');
    if (gptCache.has(key)) return gptCache.get(key) ?? null;
    const flags = {} as Record<SlotName, SlotFlags>;
    let ok = true;
    for (const name of ['A', 'B'] as const) {
      const result = await execa('cgpt', ['show', '-i', String(slots[name].partition), '-A', disk], { reject: false });
      const bits = Number(result.stdout.trim());
      if (result.exitCode !== 0 || result.stdout.trim() === '' || !Number.isInteger(bits)) ok = false;
      flags[name] = { priority: bits & 0xf, tries: (bits >> 4) & 0xf, successful: ((bits >> 8) & 1) === 1 };
    }
    // cgpt falls back to the other copy silently; a table neither copy of which is valid is refused by "cgpt show"
    if (ok && (await execa('cgpt', ['show', disk], { reject: false })).exitCode !== 0) ok = false;
    gptCache.set(key, ok ? flags : null);
    return ok ? flags : null;
  };
  const slotVersion = (disk: string, trace: RecordedTrace, slot: SlotName, state: CrashState): string | undefined => {
    const range = trace.slots[slot];
    const inside = state.ops.filter(({ index }) => {
      const op = trace.trace[index] as TraceOp;
      return op.op === 'write' && op.path === DISK && op.offset < range.offset + range.size && op.offset + op.data.length > range.offset;
    });
    const key = `${trace.name}:${slot}:${inside.map((o) => `${o.index}/${o.bytes ?? ''}`).join(',')}`;
    if (slotCache.has(key)) return slotCache.get(key);
    let found: string | undefined;
    const fd = openSync(disk, 'r');
    try {
      for (const image of trace.images) {
        if (image.size > range.size) continue;
        const buffer = Buffer.alloc(image.size);
        readSync(fd, buffer, 0, image.size, range.offset);
        if (createHash('sha256').update(buffer).digest('hex') === image.sha256) found = image.version;
      }
    } finally {
      closeSync(fd);
    }
    slotCache.set(key, found);
    return found;
  };
  const grubenvCache = new Map<string, Map<string, string> | null>();
  /** The variables of ROOT's grubenv as grub-editenv lists them (last wins, as load_env); null when it cannot read it. */
  const grubenvVars = async (root: string): Promise<Map<string, string> | null> => {
    const file = path.join(root, GRUBENV);
    const key = existsSync(file) ? createHash('sha1').update(readFileSync(file)).digest('hex') : 'missing';
    if (grubenvCache.has(key)) return grubenvCache.get(key) ?? null;
    const result = key === 'missing' ? null : await execa('grub-editenv', [file, 'list'], { reject: false });
    let vars: Map<string, string> | null = null;
    if (result && result.exitCode === 0) {
      vars = new Map();
      for (const line of result.stdout.split('\n')) {
        const at = line.indexOf('=');
        if (at > 0) vars.set(line.slice(0, at), line.slice(at + 1));
      }
    }
    grubenvCache.set(key, vars);
    return vars;
  };
  /**
   * The slot the bootloader boots next from the crash state at ROOT: GRUB's gptprio rule on the flags cgpt reads, or
   * partition/grub/abupdate-ab.cfg's rule (written out again here, independent of the product's reader) on the
   * variables grub-editenv lists. A block GRUB cannot load leaves the script's defaults: ORDER empty, nothing boots.
   */
  const bootPick = async (root: string, trace: RecordedTrace): Promise<SlotName | null | `unreadable: ${string}`> => {
    if (trace.bootloader === 'gptprio') {
      const flags = await cgptFlags(path.join(root, DISK), trace.slots);
      if (!flags) return 'unreadable: cgpt cannot read the GPT: no valid copy';
      return selectBootSlot((['A', 'B'] as const).map((name) => ({ name, partition: trace.slots[name].partition, ...flags[name] })))?.name ?? null;
    }
    const vars = await grubenvVars(root);
    if (!vars) return 'unreadable: grub-editenv cannot read the grubenv block (GRUB would boot nothing)';
    for (const word of (vars.get('ORDER') ?? '').split(' ')) {
      if (word !== 'A' && word !== 'B') continue;
      if (vars.get(`${word}_OK`) === '1' || ['1', '2', '3'].includes(vars.get(`${word}_TRY`) ?? '')) return word;
    }
    return null;
  };
  const describeFlags = async (root: string, trace: RecordedTrace): Promise<string> => {
    if (trace.bootloader === 'grubenv') return JSON.stringify(Object.fromEntries((await grubenvVars(root)) ?? []));
    const flags = await cgptFlags(path.join(root, DISK), trace.slots);
    return `A ${JSON.stringify(flags?.A)} B ${JSON.stringify(flags?.B)}`;
  };
  const roots = new Map<string, string>();
  return {
    async check(trace, state, options = {}) {
      let root = roots.get(trace.base);
      if (!root) {
        root = path.join(work, `crash-${roots.size}`);
        await copyScene(trace.base, root);
        roots.set(trace.base, root);
      }
      const problems: string[] = [];
      // the booted slot: no write of the whole trace touches it (the recorder sees every write)
      const booted = trace.slots[trace.booted];
      for (const op of trace.trace) {
        if (op.op === 'write' && op.path === DISK && op.offset < booted.offset + booted.size && op.offset + op.data.length > booted.offset) {
          problems.push(`a write at byte ${op.offset} lands in the booted slot ${trace.booted}`);
          break;
        }
      }
      rmSync(path.join(root, STATE), { recursive: true, force: true });
      if (existsSync(path.join(trace.base, STATE))) cpSync(path.join(trace.base, STATE), path.join(root, STATE), { recursive: true });
      rmSync(path.join(root, GRUBENV), { force: true });
      if (existsSync(path.join(trace.base, GRUBENV))) cpSync(path.join(trace.base, GRUBENV), path.join(root, GRUBENV));
      const touched = layState(root, trace.trace, state.ops);
      try {
        const pick = await bootPick(root, trace);
        if (typeof pick === 'string' && pick.startsWith('unreadable')) problems.push(pick);
        else if (pick === null) problems.push(`unbootable: ${await describeFlags(root, trace)}`);
        else if (slotVersion(path.join(root, DISK), trace, pick as SlotName, state) === undefined) problems.push(`the bootloader picks slot ${pick}, whose bytes are no verified version`);
        const floor = (await loadEngineState(path.join(root, STATE)).catch(() => null))?.floorVersion ?? null;
        if (trace.floor !== null && (floor === null || compareVersions(floor, trace.floor) < 0)) problems.push(`the floor went down from ${trace.floor} to ${floor ?? 'none'}`);
        if (options.recover && problems.length === 0) {
          const again = path.join(work, 'recover');
          await copyScene(root, again);
          try {
            await trace.rerun(again);
          } catch (error) {
            const code = (error as { code?: string }).code;
            if (!code?.startsWith('ERR_')) problems.push(`the rerun of ${trace.name} failed: ${(error as Error).message}`);
          }
          const after = await bootPick(again, trace);
          if (after === null || after.startsWith('unreadable')) problems.push(`after the rerun of ${trace.name} no slot is bootable`);
        }
      } finally {
        undoDisk(root, trace.base, touched);
      }
      return problems;
    },
  };
}

export interface ExploreReport {
  perTrace: Record<string, { states: number; failing: number; recovered: number }>;
  states: number;
  failures: Array<{ trace: string; state: string; problems: string[] }>;
}

/** Explores STATES crash states per trace beyond its prefixes and torn writes (seeded from SEED); RECOVER of them rerun. */
export async function exploreTraces(traces: RecordedTrace[], explorer: Explorer, options: { samples: number; seed: number; recover: number; log?: ((line: string) => void) | undefined }): Promise<ExploreReport> {
  const report: ExploreReport = { perTrace: {}, states: 0, failures: [] };
  for (const trace of traces) {
    const stats = (report.perTrace[trace.name] = { states: 0, failing: 0, recovered: 0 });
    const states = [...prefixStates(trace.trace), ...tornStates(trace.trace), ...Array.from({ length: options.samples }, (_, i) => sampledState(trace.trace, options.seed + i))];
    const recoverEvery = Math.max(1, Math.floor(states.length / Math.max(1, options.recover)));
    for (let i = 0; i < states.length; i++) {
      const state = states[i] as CrashState;
      const recover = options.recover > 0 && i % recoverEvery === 0;
      const problems = await explorer.check(trace, state, { recover });
      stats.states += 1;
      if (stats.states % 5000 === 0) options.log?.(`soak:crash ${trace.name}: ${stats.states} of ${states.length} states, ${stats.failing} failing`);
      if (recover && problems.length === 0) stats.recovered += 1;
      if (problems.length > 0) {
        stats.failing += 1;
        report.failures.push({ trace: trace.name, state: state.label, problems });
        options.log?.(`FAIL ${trace.name} ${state.label}: ${problems.join('; ')}`);
      }
    }
    report.states += stats.states;
    options.log?.(`soak:crash ${trace.name}: ${stats.states} crash states (${trace.trace.length} ops), ${stats.failing} failing, ${stats.recovered} rerun to recovery`);
  }
  return report;
}

