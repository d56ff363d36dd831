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
import type { BundleLayout } from '../../verify/layout.js';
import type { Manifest } from '../../verify/manifest.js';
import { chunkPoolFor, type ChunkPool } from '../../verify/chunk-pool.js';
import { verifySlotReadback } from '../../verify/readback.js';
import { openByteSource, readSegmented, type ByteSource, type SourceEvent } from '../download/byte-source.js';
import type { HttpSourceOptions } from '../download/http-range.js';
import { BundleTap, type ExpectedBundle } from './bundle-tap.js';
import { ChunkBitmap } from './chunk-bitmap.js';
import { checkImageFits, checkInstallPolicy, chooseTargetSlot } from './install-checks.js';
import { createGcPacer } from './gc-pacer.js';
import { formatBytes, type ProgressReporter } from './progress.js';
import { acquireRunLock } from './run-lock.js';
import { checkSlotTargetFree, flushDeviceBuffers, resolveSlotTarget, SlotWriter, type SlotTarget } from './slot-writer.js';
import { applyEngineEvent, type EngineEvent, type EngineStateChange } from './lifecycle.js';
import { loadEngineState, type EngineState, type InstallRecord, type SlotNote, type SlotRecord } from './state-store.js';
import type { InstallCheckpoint } from './install-points.js';
import { writeChunks, type WriteChunksResult } from './write-chunks.js';
import { findLocalChunks, LocalChunkReader, type LocalPlan, type LocalSlot } from './local-chunks.js';
import { loadSlotIndex, saveSlotIndex } from './slot-index.js';

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
  /** A delta install (format 2): image bytes this run copied from the host's slots instead of downloading, per slot. */
  reused: { bytes: number; from: Partial<Record<SlotName, number>>; localMismatches: number };
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

/**
 * One install as named steps, in order: read the verified head, claim the target, disarm it, recheck what an earlier
 * run left, stream the missing chunks, read back, flip. Each step leaves the state and the slot so that a crash
 * after it resumes (docs/engine.md); the step order is the safety argument.
 */
async function runInstall(options: InstallOptions, run: InstallRun): Promise<InstallResult> {
  const job = await InstallJob.begin(options, run);
  const head = await job.readVerifiedHead();
  try {
    const waiting = job.alreadyInstalled(head);
    if (waiting) return waiting;
    const device = await job.claimTarget();
    const record = await job.disarmTarget(head);
    const writer = await SlotWriter.open(device, options.fs);
    options.progress?.message(
      device.isBlockDevice
        ? `writing slot ${job.target} to ${device.path} (block device; read back from the media after blockdev --flushbufs)`
        : `writing slot ${job.target} to bytes ${device.offset}-${device.offset + device.size} of ${device.path}`,
    );
    try {
      const reused = await job.recheck(head, device, record);
      const plan = await job.findLocal(head, device);
      const filled = await job.stream(head, writer, record, plan);
      await job.readBack(head, device, writer, record);
      const after = await job.flip(head, record);
      const local = { bytes: filled.copiedBytes, from: filled.copiedFrom, localMismatches: filled.localMismatches };
      return result(job.target, head.manifest, head.manifestSha256, head.keyId, false, { total: head.count, reused: reused + filled.copied, written: filled.written - filled.copied }, job.source.bytesReceived(), after, whereOf(device), local);
    } finally {
      await writer.close();
    }
  } finally {
    await head.close().catch(() => undefined);
  }
}

/** The verified head of the bundle and the stream it was read from (continued by the chunk stream). */
interface VerifiedHead {
  manifest: Manifest;
  manifestSha256: string;
  keyId: string;
  layout: BundleLayout;
  /** Format 2: the chunk index member (recorded for the slot at the flip). */
  indexBytes: Buffer | undefined;
  stream: AsyncGenerator<Buffer>;
  rest: AsyncIterable<Uint8Array>;
  count: number;
  close(): Promise<void>;
}

class InstallJob {
  /** The chunks in the slot that are verified (written and synced by this or an earlier run). */
  private done: ChunkBitmap | undefined;
  /** Bytes downloaded by earlier runs of the same install. */
  private baseBytes = 0;
  /** The Range window once the image size is known (0: the head's doubling windows). */
  private window = 0;
  /** Small at first: a format 2 head whose first window ran past it would fetch image bytes a delta install may have. */
  private headWindow = 4 * 1024;
  /** Chunk buffers shared by the recheck, the write and the read-back (format 1 only; see chunkPoolFor). */
  private chunkPool: { pool: ChunkPool | undefined } | undefined;

  private readonly options: InstallOptions;
  private readonly run: InstallRun;
  private readonly state: EngineState;
  private readonly status: SlotStatus[];
  private readonly tap: BundleTap | undefined;
  readonly target: SlotName;
  readonly source: ByteSource;

  private constructor(options: InstallOptions, run: InstallRun, begun: { state: EngineState; status: SlotStatus[]; target: SlotName; source: ByteSource; tap: BundleTap | undefined }) {
    this.options = options;
    this.run = run;
    this.state = begun.state;
    this.status = begun.status;
    this.target = begun.target;
    this.source = begun.source;
    this.tap = begun.tap;
  }

  /** The engine state and the flags as they are, the target slot (the one not booted), the source opened. */
  static async begin(options: InstallOptions, run: InstallRun): Promise<InstallJob> {
    const state = await loadEngineState(options.stateDir, warnOption(options));
    const status = await options.control.status();
    const target = chooseTargetSlot(options.booted, status);
    run.target = target;
    // The flip at the end must be able to store the tries: refuse now, before a byte is downloaded.
    checkTries(options.control, target, options.tries ?? 1);
    const tap = options.expectedBundle ? new BundleTap(options.expectedBundle) : undefined;
    const progress = options.progress;
    const raw = openByteSource(options.source, {
      ...options.http,
      ...signalOption(options),
      // Every piece is copied where it is kept (ByteReader for the head, the chunk verifier into its chunk buffers, the
      // bundle tap), so the HTTP source may hand out views into its one read buffer.
      lendPieces: true,
      // Bytes skipped in a whole-file answer (Range ignored) are garbage as fast as the network brings them.
      onDiscard: createGcPacer(),
      onEvent: (event) => {
        const text = describeEvent(event);
        if (text) progress?.message(text);
      },
    });
    run.source = raw;
    return new InstallJob(options, run, { state, status, target, source: tap ? tap.wrap(raw) : raw, tap });
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  /** Format 2: the head ends here (the index's end); no head window reaches past it, so a delta install fetches no image byte it has. */
  private headEnd = 0;

  /**
   * Fetched in Range windows, so a crash wastes at most one window: 4 KiB doubling while the head is read, then sized
   * to the image. Format 2: once the manifest is known, the head's windows stop at the image member.
   */
  private readonly nextWindow = (at: number): number => {
    if (this.window > 0) return at < this.headEnd ? Math.min(this.window, this.headEnd - at) : this.window;
    const size = this.headWindow;
    this.headWindow = Math.min(2 * this.headWindow, 16 * 1024 * 1024);
    return at < this.headEnd ? Math.min(size, this.headEnd - at) : size;
  };

  /** Step 1: the signature, the manifest and the install policy, before anything is written. */
  async readVerifiedHead(): Promise<VerifiedHead> {
    const { options, run, tap } = this;
    options.progress?.phase('check', 0);
    const stream = readSegmented(this.source, 0, this.nextWindow);
    const close = async (): Promise<void> => {
      await stream.return(undefined);
    };
    let head;
    try {
      head = await readBundleHead(stream, {
        keyring: options.keyring,
        onManifest: (manifest, imageOffset) => {
          if (manifest.image.packed) this.headEnd = imageOffset;
        },
      });
    } catch (error) {
      run.headRefused = true;
      await close();
      throw error;
    }
    const { manifest } = head;
    run.version = manifest.version;
    this.window = Math.min(16 * 1024 * 1024, Math.max(256 * 1024, Math.floor(manifest.image.size / 16)));
    try {
      checkInstallPolicy(manifest, this.state, { compatible: options.compatible, allowDowngrade: options.allowDowngrade ?? false, booted: options.booted, now: this.now(), currentVersion: options.currentVersion });
      checkImageFits(manifest, options.slots[this.target]);
      tap?.setLayout(head.layout);
      tap?.checkSize();
      if (tap && !tap.checksDigest) {
        options.progress?.message("format 2: the bundle's size is checked against the update server's; its whole-file SHA-256 is not (a delta install does not download the whole file), the signed index covers every chunk");
      }
    } catch (error) {
      await close();
      throw error;
    }
    options.progress?.message(`bundle ${manifest.version} for "${manifest.compatible}", signed by key ${head.keyId}: ${formatBytes(manifest.image.size)} into slot ${this.target}`);
    options.checkpoint?.('head-verified');
    const manifestSha256 = createHash('sha256').update(head.manifestBytes).digest('hex');
    return { manifest, manifestSha256, keyId: head.keyId, layout: head.layout, indexBytes: head.indexBytes, stream, rest: head.rest, count: manifest.image.chunks.length, close };
  }

  /** The install this run continues (same bundle, same slot), or null. */
  private previous(head: VerifiedHead): InstallRecord | null {
    const previous = this.state.install;
    return previous !== null && previous.manifestSha256 === head.manifestSha256 && previous.targetSlot === this.target && previous.chunkCount === head.count ? previous : null;
  }

  /** The same bundle is installed and waits for the reboot: nothing to write. */
  alreadyInstalled(head: VerifiedHead): InstallResult | null {
    const targetStatus = this.status.find((s) => s.name === this.target);
    if (this.previous(head) === null || this.state.state !== 'UPDATED_NEED_REBOOT' || targetStatus?.state !== 'trying') return null;
    this.options.progress?.message(`bundle ${head.manifest.version} is installed in slot ${this.target} already and waits for the reboot`);
    return result(this.target, head.manifest, head.manifestSha256, head.keyId, true, { total: head.count, reused: head.count, written: 0 }, this.source.bytesReceived(), this.status, null, { bytes: 0, from: {}, localMismatches: 0 });
  }

  /** Step 2, before the first write (the flags too): the kernel must not be using the target, and must see it where the GPT says. */
  async claimTarget(): Promise<SlotTarget> {
    const device = await resolveSlotTarget(this.options.diskPath, this.options.slots[this.target]);
    await checkSlotTargetFree(device);
    return device;
  }

  /** Step 3: from here on the slot is written, so it must not be bootable, and the state must say what is in it. */
  async disarmTarget(head: VerifiedHead): Promise<InstallRecord> {
    const { options, target } = this;
    const targetStatus = this.status.find((s) => s.name === target);
    if (targetStatus && isBootable(targetStatus)) await options.control.markBad(target);
    this.run.touched = true;
    const previous = this.previous(head);
    this.done = previous ? ChunkBitmap.fromBase64(head.count, previous.chunksDone) : new ChunkBitmap(head.count);
    const record: InstallRecord = {
      targetSlot: target,
      version: head.manifest.version,
      source: options.source,
      manifestSha256: head.manifestSha256,
      keyId: head.keyId,
      imageSize: head.manifest.image.size,
      chunkCount: head.count,
      chunksDone: this.done.toBase64(),
      attempts: previous ? previous.attempts + 1 : 1,
      bytesDownloaded: previous ? previous.bytesDownloaded : 0,
      startedAt: previous ? previous.startedAt : this.now().toISOString(),
      updatedAt: this.now().toISOString(),
    };
    this.baseBytes = record.bytesDownloaded;
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
    return record;
  }

  /** `{ pool }` for MANIFEST's chunks, made once per install, or `{}`. */
  private pooled(manifest: Manifest): { pool?: ChunkPool } {
    this.chunkPool ??= { pool: chunkPoolFor(manifest) };
    return this.chunkPool.pool ? { pool: this.chunkPool.pool } : {};
  }

  private bitmap(): ChunkBitmap {
    if (this.done === undefined) throw new Error('InstallJob: the target is not disarmed');
    return this.done;
  }

  /** Saves the chunk bitmap and the bytes downloaded with EVENT (a progress save by default). */
  private async save(record: InstallRecord, event: EngineEvent = 'progress-saved', change: EngineStateChange = {}): Promise<void> {
    record.chunksDone = this.bitmap().toBase64();
    record.bytesDownloaded = this.baseBytes + this.source.bytesReceived();
    record.updatedAt = this.now().toISOString();
    await applyEngineEvent(this.options.stateDir, event, { ...change, install: { ...record } }, warnOption(this.options));
  }

  /** Step 4: chunks recorded by an earlier run are re-hashed where they lie; only the bad or missing ones are fetched. Returns the chunks kept. */
  async recheck(head: VerifiedHead, device: SlotTarget, record: InstallRecord): Promise<number> {
    const { options } = this;
    const done = this.bitmap();
    if (done.size() === 0) return 0;
    const chunks = head.manifest.image.chunks;
    const marked = [...Array(head.count).keys()].filter((i) => done.has(i));
    options.progress?.phase('recheck', marked.reduce((sum, i) => sum + (chunks[i]?.size ?? 0), 0));
    const { badChunks } = await verifySlotReadback(device, head.manifest, { chunks: marked, ...this.pooled(head.manifest), ...signalOption(options), ...progressOption(options.progress) });
    options.progress?.finish();
    for (const i of badChunks) done.set(i, false);
    const reused = done.size();
    options.progress?.message(`resuming: ${reused} of ${head.count} chunks are in slot ${this.target} already${badChunks.length ? `, ${badChunks.length} differ and are fetched again` : ''}`);
    await this.save(record);
    return reused;
  }

  /**
   * Step 5 (format 2 only): which missing chunks the host has, in the running slot or the target, by their recorded
   * index or by chunking the slot read-only with the bundle's parameters. Nothing is written here.
   */
  async findLocal(head: VerifiedHead, device: SlotTarget): Promise<LocalPlan | undefined> {
    const { options, target } = this;
    const packed = head.manifest.image.packed;
    const done = this.bitmap();
    if (!packed || done.size() === head.count) return undefined;
    const slots: LocalSlot[] = [];
    for (const name of [options.booted, target]) {
      const where = name === target ? device : await resolveSlotTarget(options.diskPath, options.slots[name]);
      // The state as this run found it: the target's record exists only if no install into it began since it was
      // recorded (disarming drops it), so a recorded index still describes what the slot holds. Either way every
      // chunk is hashed again when it is copied.
      const record = this.state.slots[name];
      const recorded = await loadSlotIndex(options.stateDir, name, record, packed);
      const size = Math.min(where.size, record?.chunkIndex?.imageSize ?? where.size);
      slots.push({ slot: name, path: where.path, offset: where.offset, size, ...(recorded ? { recorded } : {}) });
    }
    const scanning = slots.filter((s) => !s.recorded);
    if (scanning.length > 0) options.progress?.phase('scan', scanning.reduce((sum, s) => sum + s.size, 0));
    const plan = await findLocalChunks(head.manifest, done, slots, target, { ...signalOption(options), ...progressOption(options.progress) });
    if (scanning.length > 0) options.progress?.finish();
    const found = [...plan.chunks.keys()].reduce((sum, k) => sum + (head.manifest.image.chunks[k]?.size ?? 0), 0);
    const how = Object.entries(plan.how).map(([slot, way]) => `slot ${slot} ${way === 'recorded' ? 'by its recorded index' : 'chunked read-only'}`).join(', ');
    options.progress?.message(`delta: ${plan.chunks.size} of ${head.count - done.size()} missing chunks (${formatBytes(found)}) are on this host (${how})`);
    return plan;
  }

  /** Step 6: every missing chunk, the host's own first (hashed again), the rest verified as it arrives, the first chunk last. */
  async stream(head: VerifiedHead, writer: SlotWriter, record: InstallRecord, plan: LocalPlan | undefined): Promise<WriteChunksResult> {
    const { options } = this;
    const reader = plan && plan.chunks.size > 0 ? await LocalChunkReader.open(plan) : undefined;
    try {
      const filled = await this.fill(head, writer, record, plan && reader ? { plan, reader } : undefined);
      if (filled.copied > 0 || plan) {
        record.bytesReused = (record.bytesReused ?? 0) + filled.copiedBytes;
        const from = { ...record.reusedFrom };
        for (const [slot, bytes] of Object.entries(filled.copiedFrom) as Array<[SlotName, number]>) from[slot] = (from[slot] ?? 0) + bytes;
        record.reusedFrom = from;
        const mismatches = filled.localMismatches > 0 ? ` (${filled.localMismatches} local chunks had changed on disk and were downloaded)` : '';
        const slots = Object.entries(filled.copiedFrom).map(([slot, bytes]) => `${formatBytes(bytes)} from slot ${slot}`).join(', ');
        options.progress?.message(`reused ${slots || '0 B'}, downloaded ${formatBytes(this.source.bytesReceived())}${mismatches}`);
      }
      return filled;
    } finally {
      await reader?.close();
    }
  }

  private fill(head: VerifiedHead, writer: SlotWriter, record: InstallRecord, local: { plan: LocalPlan; reader: LocalChunkReader } | undefined): Promise<WriteChunksResult> {
    const { options } = this;
    return writeChunks({
      manifest: head.manifest,
      layout: head.layout,
      head: head.stream,
      rest: head.rest,
      source: this.source,
      window: this.nextWindow,
      done: this.bitmap(),
      writer,
      ...this.pooled(head.manifest),
      save: () => this.save(record),
      ...(options.progress ? { progress: options.progress } : {}),
      ...signalOption(options),
      // About 16 checkpoints per image, between 256 KiB and 32 MiB apart.
      checkpointBytes: options.checkpointBytes ?? Math.min(32 * 1024 * 1024, Math.max(256 * 1024, Math.floor(head.manifest.image.size / 16))),
      checkpointMs: options.checkpointMs ?? 1000,
      ...(options.checkpoint ? { at: options.checkpoint } : {}),
      ...(local ? { local } : {}),
    });
  }

  /** Step 7: the whole slot read back (from the media on a block device) before anything may boot it; the whole bundle's hash when the server stated one. */
  async readBack(head: VerifiedHead, device: SlotTarget, writer: SlotWriter, record: InstallRecord): Promise<void> {
    const { options, tap, target } = this;
    const { manifest } = head;
    await this.save(record, 'download-finished');
    await flushDeviceBuffers(device, options.signal);
    options.progress?.phase('readback', manifest.image.size);
    const whole = tap?.beginDigest();
    const readback = await verifySlotReadback(device, manifest, { ...this.pooled(manifest), ...signalOption(options), ...(whole ? { hashInto: whole } : {}), ...progressOption(options.progress) });
    options.progress?.finish();
    if (readback.badChunks.length > 0) {
      for (const i of readback.badChunks) this.bitmap().set(i, false);
      await this.save(record);
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
  }

  /** Step 8: the new slot boots next with its tries, then the state records what it holds (and its chunk index). Returns the flags after. */
  async flip(head: VerifiedHead, record: InstallRecord): Promise<SlotStatus[]> {
    const { options, target } = this;
    const { manifest, manifestSha256 } = head;
    const tries = options.tries ?? 1;
    await this.save(record, 'readback-passed');
    options.progress?.phase('flip', 0);
    options.checkpoint?.('flipping');
    const after = await options.control.markActive(target, tries);
    options.checkpoint?.('flipped');
    const installedAt = this.now().toISOString();
    record.updatedAt = installedAt;
    const packed = manifest.image.packed;
    let chunkIndex: SlotRecord['chunkIndex'];
    if (packed && head.indexBytes) {
      // Written before the state names it; a failure only costs the next delta install a read of the slot.
      try {
        await saveSlotIndex(options.stateDir, target, head.indexBytes, options.fs);
        const { min, avg, max } = packed.chunking;
        chunkIndex = { sha256: packed.index.sha256, chunking: { min, avg, max }, imageSize: manifest.image.size };
      } catch (error) {
        options.warn?.(`Cannot record slot ${target}'s chunk index: ${(error as Error).message}; the next delta install reads the slot instead`);
      }
    }
    await applyEngineEvent(
      options.stateDir,
      'slot-flipped',
      (current) => ({ install: { ...record }, slots: { ...current.slots, [target]: { version: manifest.version, manifestSha256, installedAt, ...(chunkIndex ? { chunkIndex } : {}) } } }),
      warnOption(options),
    );
    options.progress?.message(`slot ${target} holds ${manifest.version} and boots next (${tries} ${tries === 1 ? 'try' : 'tries'}); reboot to use it`);
    return after;
  }
}

function whereOf(device: SlotTarget): NonNullable<InstallResult['target']> {
  return { path: device.path, offset: device.offset, size: device.size, blockDevice: device.isBlockDevice };
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
  reused: InstallResult['reused'],
): InstallResult {
  return { slot, version: manifest.version, manifestSha256, keyId, alreadyInstalled, chunks, bytesDownloaded, reused, status, target };
}
