// The install pipeline: verify the bundle head, stream verified chunks into the other slot, read back, flip.

import { syncRebootSentinel } from './reboot-sentinel.js';
import type { FileSystem } from '../../common/file-system.js';
import { createHash } from 'node:crypto';
import { isUpdaterError, UpdaterError, toUpdaterError } from '../../common/errors.js';
import { isBootable, type BootControl, type SlotStatus } from '../../partition/boot-control.js';
import { checkTries } from '../../partition/boot-operations.js';
import type { SlotName, Slots } from '../../partition/slots.js';
import { readBundleHead } from '../../verify/bundle-head.js';
import { verifyChunks } from '../../verify/chunk-verifier.js';
import type { Keyring } from '../../verify/keyring.js';
import type { Manifest } from '../../verify/manifest.js';
import { verifySlotReadback } from '../../verify/readback.js';
import { openByteSource, readSegmented, type ByteSource, type SourceEvent } from '../download/byte-source.js';
import type { HttpSourceOptions } from '../download/http-range.js';
import { BundleTap, type ExpectedBundle } from './bundle-tap.js';
import { ChunkBitmap } from './chunk-bitmap.js';
import { checkImageFits, checkInstallPolicy, chooseTargetSlot } from './install-checks.js';
import { createGcPacer } from './gc-pacer.js';
import { formatBytes, type ProgressReporter } from './progress.js';
import { acquireRunLock } from './run-lock.js';
import { checkSlotTargetFree, flushDeviceBuffers, resolveSlotTarget, SlotWriter } from './slot-writer.js';
import { applyEngineEvent, type EngineEvent, type EngineStateChange } from './lifecycle.js';
import { loadEngineState, type EngineState, type InstallRecord, type SlotNote } from './state-store.js';
import type { InstallCheckpoint } from './install-points.js';
import { writeChunks } from './write-chunks.js';

export interface InstallOptions {
  /** The bundle: a path or an http(s) URL. */
  source: string;
  /** The whole-disk device or disk image holding the slots. */
  diskPath: string;
  control: BootControl;
  slots: Slots;
  booted: SlotName;
  keyring: Keyring;
  compatible: string;
  stateDir: string;
  runDir: string;
  /** Tries the new slot gets (default 1). */
  tries?: number;
  allowDowngrade?: boolean;
  /** The version the booted slot runs when the engine state has no record (fresh host): its floor (install-checks.ts). */
  currentVersion?: string;
  progress?: ProgressReporter;
  http?: Omit<HttpSourceOptions, 'signal' | 'onEvent'>;
  signal?: AbortSignal;
  now?: () => Date;
  warn?: (message: string) => void;
  /** The file system the slot, the state and (through `control`) the flags are written with (tests record it). */
  fs?: FileSystem;
  /** fsync the slot and save the chunk bitmap after this many bytes (default: image/16 within 256 KiB..32 MiB) or ms (1000). */
  checkpointBytes?: number;
  checkpointMs?: number;
  /**
   * REBOOT_SENTINEL (kured's /run/reboot-required): created once the new slot boots next, by the CLI's install and the
   * daemon's alike; omitted or null: none. post-boot (the commit) and rollback remove it.
   */
  rebootSentinel?: string | null;
  /**
   * The whole bundle file as the update server states it (Omaha postinstall sha256, channel index): checked after
   * the read-back, before the flip, as sha256(head bytes ‖ slot image ‖ tar end). A mismatch throws its
   * mismatchCode, nothing is made bootable, and the partial install is discarded.
   */
  expectedBundle?: ExpectedBundle;
  /** Called at each named point of the pipeline (install-points.ts): the fault-injection seam of the tests. */
  checkpoint?: InstallCheckpoint;
}

export interface InstallResult {
  slot: SlotName;
  version: string;
  manifestSha256: string;
  keyId: string;
  /** The same bundle was installed already and waits for the reboot: nothing was written. */
  alreadyInstalled: boolean;
  chunks: { total: number; reused: number; written: number };
  /** Bytes received from the source by this run. */
  bytesDownloaded: number;
  status: SlotStatus[];
  /** Where the image went: the partition's node on a block device, else a byte range of the image file; null when nothing was written. */
  target: { path: string; offset: number; size: number; blockDevice: boolean } | null;
}

/** Installs the bundle at `options.source` into the slot that is not booted, holding the run lock throughout. */
export async function installBundle(options: InstallOptions): Promise<InstallResult> {
  const lock = await acquireRunLock(options.runDir, `install ${options.source}`);
  const run: InstallRun = { touched: false };
  try {
    const result = await runInstall(options, run);
    // The new slot boots next: an installed update waits for its reboot (also when it was installed already).
    await syncRebootSentinel(options.rebootSentinel ?? null, true).catch((caught: unknown) =>
      options.warn?.(`Cannot create the reboot sentinel ${options.rebootSentinel}: ${(caught as Error).message}`),
    );
    return result;
  } catch (caught) {
    const error = toUpdaterError(caught, `install "${options.source}"`);
    await recordFailure(options, error, run).catch((failure: unknown) => {
      // A state dir that cannot be written must not hide the install's own error; a lifecycle bug must not hide at all.
      if (isUpdaterError(failure, 'ERR_ILLEGAL_TRANSITION')) throw failure;
    });
    throw error;
  } finally {
    run.source?.close(); // a server that ignores Range: its one 200 stream, kept between windows
    await lock.release();
  }
}

/** What installBundle() must know about a run, whatever step it stopped at. */
interface InstallRun {
  /** The slot has been written to (a failure leaves it IDLE, with the resume record). */
  touched: boolean;
  source?: ByteSource;
  /** The slot chosen and the bundle's version, once known (a refusal is noted against the slot). */
  target?: SlotName;
  version?: string;
  /** The bundle head (signature, manifest) did not verify. */
  headRefused?: boolean;
}

async function recordFailure(options: InstallOptions, error: UpdaterError, run: InstallRun): Promise<void> {
  // Refused before any write: the state it was in (e.g. UPDATED_NEED_REBOOT) still holds. A discarded install is IDLE already.
  const { state } = await loadEngineState(options.stateDir, warnOption(options));
  const installing = state === 'DOWNLOADING' || state === 'VERIFYING' || state === 'FINALIZING';
  if (run.touched && installing) {
    await applyEngineEvent(options.stateDir, 'install-failed', { lastError: error.toJSON() }, warnOption(options));
    return;
  }
  // Refused before a write: noted against the target slot when it holds nothing the engine recorded (mark-good says so).
  const { target } = run;
  const note = (current: EngineState): Partial<EngineState> => {
    if (run.touched || target === undefined || current.slots[target] !== undefined) return {};
    if (run.version === undefined && run.headRefused !== true) return {}; // never got to a bundle (network, lock): nothing to say
    const slotNote: SlotNote = { outcome: 'refused', version: run.version ?? null, code: error.code, at: new Date().toISOString() };
    return { slotNotes: { ...current.slotNotes, [target]: slotNote } };
  };
  await applyEngineEvent(options.stateDir, 'install-refused', (current) => ({ lastError: error.toJSON(), ...note(current) }), warnOption(options));
}

function warnOption(options: InstallOptions): { warn?: (message: string) => void; fs?: FileSystem } {
  return { ...(options.warn ? { warn: options.warn } : {}), ...(options.fs ? { fs: options.fs } : {}) };
}

function describeEvent(event: SourceEvent): string | undefined {
  if (event.type === 'retry') return `download interrupted (${event.error.message}); retrying from byte ${event.position} in ${event.delayMs} ms`;
  if (event.type === 'range-ignored') return `the server ignores Range requests: skipping ${formatBytes(event.skip)} already present`;
  return undefined;
}

async function runInstall(options: InstallOptions, run: InstallRun): Promise<InstallResult> {
  const now = options.now ?? (() => new Date());
  const progress = options.progress;
  const state = await loadEngineState(options.stateDir, warnOption(options));
  const status = await options.control.status();
  const target = chooseTargetSlot(options.booted, status);
  run.target = target;
  const slot = options.slots[target];
  // The flip at the end must be able to store the tries: refuse now, before a byte is downloaded.
  checkTries(options.control, target, options.tries ?? 1);

  const tap = options.expectedBundle ? new BundleTap(options.expectedBundle) : undefined;
  const raw = openByteSource(options.source, {
    ...options.http,
    ...(options.signal ? { signal: options.signal } : {}),
    // Bytes skipped in a whole-file answer (Range ignored) are garbage as fast as the network brings them.
    onDiscard: createGcPacer(),
    onEvent: (event) => {
      const text = describeEvent(event);
      if (text) progress?.message(text);
    },
  });
  const source = tap ? tap.wrap(raw) : raw;
  run.source = raw;
  progress?.phase('check', 0);
  // Fetched in Range windows, so a crash wastes at most one window: 64 KiB doubling while the head (whose size is
  // not known yet) is read, then sized to the image.
  let window = 0;
  let headWindow = 64 * 1024;
  const nextWindow = (): number => {
    if (window > 0) return window;
    const size = headWindow;
    headWindow = Math.min(2 * headWindow, 16 * 1024 * 1024);
    return size;
  };
  const headStream = readSegmented(source, 0, nextWindow);
  let head;
  try {
    head = await readBundleHead(headStream, { keyring: options.keyring });
  } catch (error) {
    run.headRefused = true;
    await headStream.return(undefined);
    throw error;
  }
  const closeHead = async () => {
    await headStream.return(undefined);
  };
  const { manifest } = head;
  run.version = manifest.version;
  window = Math.min(16 * 1024 * 1024, Math.max(256 * 1024, Math.floor(manifest.image.size / 16)));
  const manifestSha256 = createHash('sha256').update(head.manifestBytes).digest('hex');
  try {
    checkInstallPolicy(manifest, state, { compatible: options.compatible, allowDowngrade: options.allowDowngrade ?? false, booted: options.booted, now: now(), currentVersion: options.currentVersion });
    checkImageFits(manifest, slot);
    tap?.setLayout(head.layout);
    tap?.checkSize();
  } catch (error) {
    await closeHead();
    throw error;
  }
  progress?.message(`bundle ${manifest.version} for "${manifest.compatible}", signed by key ${head.keyId}: ${formatBytes(manifest.image.size)} into slot ${target}`);
  options.checkpoint?.('head-verified');

  const count = manifest.image.chunks.length;
  const previous = state.install;
  const same = previous !== null && previous.manifestSha256 === manifestSha256 && previous.targetSlot === target && previous.chunkCount === count;
  const targetStatus = status.find((s) => s.name === target);
  if (same && state.state === 'UPDATED_NEED_REBOOT' && targetStatus?.state === 'trying') {
    await closeHead();
    progress?.message(`bundle ${manifest.version} is installed in slot ${target} already and waits for the reboot`);
    return result(target, manifest, manifestSha256, head.keyId, true, { total: count, reused: count, written: 0 }, source.bytesReceived(), status, null);
  }

  // Before the first write (the flags too): the kernel must not be using the target, and must see it where the GPT says.
  let slotTarget;
  try {
    slotTarget = await resolveSlotTarget(options.diskPath, slot);
    await checkSlotTargetFree(slotTarget);
  } catch (error) {
    await closeHead();
    throw error;
  }

  // From here on the slot is written: it must not be bootable, and the state must say what is in it.
  if (targetStatus && isBootable(targetStatus)) await options.control.markBad(target);
  run.touched = true;
  const done = same ? ChunkBitmap.fromBase64(count, previous.chunksDone) : new ChunkBitmap(count);
  const record: InstallRecord = {
    targetSlot: target,
    version: manifest.version,
    source: options.source,
    manifestSha256,
    keyId: head.keyId,
    imageSize: manifest.image.size,
    chunkCount: count,
    chunksDone: done.toBase64(),
    attempts: same ? previous.attempts + 1 : 1,
    bytesDownloaded: same ? previous.bytesDownloaded : 0,
    startedAt: same ? previous.startedAt : now().toISOString(),
    updatedAt: now().toISOString(),
  };
  const baseBytes = record.bytesDownloaded;
  await applyEngineEvent(
    options.stateDir,
    'install-started',
    (current) => {
      const slots = { ...current.slots };
      delete slots[target];
      const slotNotes = { ...current.slotNotes };
      delete slotNotes[target];
      return { install: { ...record }, lastError: null, slots, slotNotes };
    },
    warnOption(options),
  );
  options.checkpoint?.('slot-disarmed');

  const writer = await SlotWriter.open(slotTarget, options.fs);
  const where = { path: slotTarget.path, offset: slotTarget.offset, size: slotTarget.size, blockDevice: slotTarget.isBlockDevice };
  progress?.message(
    where.blockDevice
      ? `writing slot ${target} to ${where.path} (block device; read back from the media after blockdev --flushbufs)`
      : `writing slot ${target} to bytes ${where.offset}-${where.offset + where.size} of ${where.path}`,
  );
  try {
    const save = async (event: EngineEvent = 'progress-saved', change: EngineStateChange = {}): Promise<void> => {
      record.chunksDone = done.toBase64();
      record.bytesDownloaded = baseBytes + source.bytesReceived();
      record.updatedAt = now().toISOString();
      await applyEngineEvent(options.stateDir, event, { ...change, install: { ...record } }, warnOption(options));
    };

    // Chunks recorded by an earlier run are re-hashed where they lie; only the bad or missing ones are fetched.
    let reused = 0;
    if (done.size() > 0) {
      const marked = [...Array(count).keys()].filter((i) => done.has(i));
      progress?.phase('recheck', marked.reduce((sum, i) => sum + (manifest.image.chunks[i]?.size ?? 0), 0));
      const { badChunks } = await verifySlotReadback(slotTarget.path, slotTarget.offset, manifest, {
        chunks: marked,
        ...signalOption(options),
        ...progressOption(progress),
      });
      progress?.finish();
      for (const i of badChunks) done.set(i, false);
      reused = done.size();
      progress?.message(`resuming: ${reused} of ${count} chunks are in slot ${target} already${badChunks.length ? `, ${badChunks.length} differ and are fetched again` : ''}`);
      await save();
    }
    const written = await writeChunks({
      manifest,
      layout: head.layout,
      head: headStream,
      rest: head.rest,
      source,
      window: nextWindow,
      done,
      writer,
      save: () => save(),
      ...(progress ? { progress } : {}),
      ...signalOption(options),
      // About 16 checkpoints per image, between 256 KiB and 32 MiB apart.
      checkpointBytes: options.checkpointBytes ?? Math.min(32 * 1024 * 1024, Math.max(256 * 1024, Math.floor(manifest.image.size / 16))),
      checkpointMs: options.checkpointMs ?? 1000,
      ...(options.checkpoint ? { at: options.checkpoint } : {}),
    });

    // Read the whole slot back (from the media on a block device) before anything may boot it.
    await save('download-finished');
    await flushDeviceBuffers(slotTarget, options.signal);
    progress?.phase('readback', manifest.image.size);
    const whole = tap?.beginDigest();
    const readback = await verifySlotReadback(slotTarget.path, slotTarget.offset, manifest, {
      ...signalOption(options),
      ...(whole ? { hashInto: whole } : {}),
      ...progressOption(progress),
    });
    progress?.finish();
    if (readback.badChunks.length > 0) {
      for (const i of readback.badChunks) done.set(i, false);
      await save();
      throw new UpdaterError('ERR_READBACK', `Cannot install bundle ${manifest.version}: ${readback.badChunks.length} chunks of slot ${target} read back different from what was written (first: chunk ${readback.badChunks[0]})`, {
        data: { slot: target, badChunks: readback.badChunks.slice(0, 32) },
        hint: 'The disk may be failing; run the install again to rewrite those chunks, and check the disk.',
      });
    }
    if (tap && whole) {
      try {
        tap.finishDigest(whole);
      } catch (error) {
        await discardInstall(writer, first(head.layout), options, { slot: target, version: manifest.version, code: (error as UpdaterError).code ?? 'ERR_INTERNAL' });
        throw error;
      }
    }
    options.checkpoint?.('readback-done');

    await save('readback-passed');
    progress?.phase('flip', 0);
    options.checkpoint?.('flipping');
    const after = await options.control.markActive(target, options.tries ?? 1);
    options.checkpoint?.('flipped');
    const installedAt = now().toISOString();
    record.updatedAt = installedAt;
    await applyEngineEvent(
      options.stateDir,
      'slot-flipped',
      (current) => ({ install: { ...record }, slots: { ...current.slots, [target]: { version: manifest.version, manifestSha256, installedAt } } }),
      warnOption(options),
    );
    progress?.message(`slot ${target} holds ${manifest.version} and boots next (${options.tries ?? 1} ${(options.tries ?? 1) === 1 ? 'try' : 'tries'}); reboot to use it`);
    return result(target, manifest, manifestSha256, head.keyId, false, { total: count, reused, written }, source.bytesReceived(), after, where);
  } finally {
    await closeHead().catch(() => undefined);
    await writer.close();
  }
}

function first(layout: { chunks: { size: number }[] }): number {
  return layout.chunks[0]?.size ?? 0;
}

/** A refused bundle: its first chunk is zeroed (no file system of it is left in the slot) and the resume state dropped. */
async function discardInstall(writer: SlotWriter, firstChunkSize: number, options: InstallOptions, why: { slot: SlotName; version: string; code: string }): Promise<void> {
  await writer.write(0, Buffer.alloc(firstChunkSize));
  await writer.sync();
  const slotNote: SlotNote = { outcome: 'discarded', version: why.version, code: why.code, at: new Date().toISOString() };
  await applyEngineEvent(options.stateDir, 'install-discarded', (current) => ({ install: null, slotNotes: { ...current.slotNotes, [why.slot]: slotNote } }), warnOption(options));
}

function signalOption(options: InstallOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/** A read-back's byte count, fed to the current progress phase. */
function progressOption(progress: ProgressReporter | undefined): { onProgress?: (bytes: number) => void } {
  return progress ? { onProgress: (bytes) => progress.update(bytes) } : {};
}

function result(
  slot: SlotName,
  manifest: Manifest,
  manifestSha256: string,
  keyId: string,
  alreadyInstalled: boolean,
  chunks: InstallResult['chunks'],
  bytesDownloaded: number,
  status: SlotStatus[],
  target: InstallResult['target'],
): InstallResult {
  return { slot, version: manifest.version, manifestSha256, keyId, alreadyInstalled, chunks, bytesDownloaded, status, target };
}
