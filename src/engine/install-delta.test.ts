// Delta installs (bundle format 2) over a real HTTP server: only the chunks the host lacks are fetched, the rest is
// copied from the running slot (and the target) after its bytes were hashed again; every guarantee of a full install holds.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/tmp.js';
import { bootedSnapshot, engineInstallOptions, hashRange, makeInstallEnv, TEST_COMPATIBLE, type InstallEnv } from '../../fixtures/install-env.js';
import { layeredImage, makeBundle } from '../../fixtures/bundle.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { isUpdaterError } from '../../common/errors.js';
import { chunkStream } from '../../verify/cdc.js';
import { bytesSource } from '../../fixtures/bundle.js';
import type { CreatedBundle } from '../../verify/bundle-writer.js';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { fastKillCliArgv } from '../../fixtures/cli-bundle.js';
import { installBundle } from './install.js';
import { loadEngineState } from './state-store.js';
import { slotIndexPath } from './slot-index.js';

const SIZE = 3 * 1024 * 1024 + 5000;

interface DeltaScene {
  env: InstallEnv;
  v1: Buffer;
  v2: Buffer;
  bundle: CreatedBundle;
  url: string;
}

/** Slot A (booted) holds image v1 as its raw bytes; the server has v2 as a format 2 bundle; slot B holds zeros. */
async function deltaScene(t: TestContext): Promise<DeltaScene> {
  const dir = await makeTempDir(t);
  const env = await makeInstallEnv(t, dir);
  const v1 = layeredImage(SIZE, 'os');
  const v2 = layeredImage(SIZE, 'os', 'v2');
  const handle = await open(env.disk.path, 'r+');
  await handle.write(v1, 0, v1.length, env.disk.slots.A.offset);
  await handle.close();
  const imagePath = path.join(dir, 'v2.img');
  await writeFile(imagePath, v2);
  const bundle = await makeBundle(dir, { image: imagePath, version: '2.0.0', compatible: TEST_COMPATIBLE, key: env.keys, format: 2, zstdLevel: 3, name: 'v2.tar' });
  return { env, v1, v2, bundle, url: env.serve('v2.tar', bundle.path) };
}

/** The SHA-256 of every content-defined chunk of BYTES, cut with the bundle's parameters. */
async function chunkHashes(bytes: Buffer, bundle: CreatedBundle): Promise<Set<string>> {
  const { min, avg, max } = bundle.manifest.image.packed!.chunking;
  const hashes = new Set<string>();
  for await (const chunk of chunkStream(bytesSource(bytes, 1 << 20), { min, avg, max })) hashes.add(chunk.sha256);
  return hashes;
}

async function slotBytes(env: InstallEnv, slot: 'A' | 'B', length: number): Promise<Buffer> {
  const all = await readFile(env.disk.path);
  return all.subarray(env.disk.slots[slot].offset, env.disk.slots[slot].offset + length);
}

/** Bytes the server sent from inside the image member (the chunks), and the ranges asked for there. */
function imageBytesServed(env: InstallEnv, bundle: CreatedBundle): { bytes: number; ranges: string[] } {
  const { imageOffset, imageEnd } = bundle.layout;
  let bytes = 0;
  const ranges: string[] = [];
  for (const r of env.server.requests.filter((q) => q.path === 'v2.tar')) {
    const start = Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1] ?? 0);
    const from = Math.max(start, imageOffset);
    const to = Math.min(start + r.bytes, imageEnd);
    if (to > from) bytes += to - from;
    if (start >= imageOffset) ranges.push(r.range ?? '');
  }
  return { bytes, ranges };
}

test('a delta install over HTTP writes exactly v2 into slot B, leaves slot A byte for byte, and fetches only the chunks the host lacks', async (t) => {
  const s = await deltaScene(t);
  const before = await bootedSnapshot(s.env);
  const messages: string[] = [];
  const result = await installBundle(await engineInstallOptions(s.env, { source: s.url, progress: { phase() {}, update() {}, message: (m) => void messages.push(m), finish() {} } }));
  assert.equal(result.slot, 'B');
  assert.ok((await slotBytes(s.env, 'B', SIZE)).equals(s.v2), 'slot B holds v2 byte for byte');
  assert.deepEqual(await bootedSnapshot(s.env), before, 'slot A and its flags are unchanged');
  assert.deepEqual(await cgptFlags(s.env.disk.path, s.env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false });

  // What the host had: the chunks of slot A (v1) and of slot B (zeros), by content.
  const local = new Set([...(await chunkHashes(s.v1, s.bundle)), ...(await chunkHashes(Buffer.alloc(s.env.disk.slots.B.size), s.bundle))]);
  const chunks = s.bundle.manifest.image.chunks;
  const missing = chunks.filter((c) => !local.has(c.sha256));
  const missingStored = missing.reduce((sum, c) => sum + c.stored!.size, 0);
  assert.ok(missing.length > 0 && missing.length < chunks.length / 2, `${missing.length} of ${chunks.length} chunks are new in v2`);
  // The server sent the head (manifest, signature, index: exactly up to the image member), the missing chunks as
  // stored, and the tar end (checked): not one byte of a chunk the host had.
  assert.ok(s.bundle.layout.imageOffset > 4096, 'the head is longer than the first 4 KiB window');
  const served = imageBytesServed(s.env, s.bundle);
  assert.equal(served.bytes, missingStored, `the image bytes served are exactly the missing chunks' (${missing.length} chunks)`);
  const tail = s.bundle.layout.totalSize - s.bundle.layout.imageEnd;
  const total = s.env.server.requests.filter((r) => r.path === 'v2.tar').reduce((sum, r) => sum + r.bytes, 0);
  assert.equal(total, s.bundle.layout.imageOffset + missingStored + tail, 'head + missing chunks + tar end, nothing else');
  assert.equal(result.bytesDownloaded, total);
  assert.ok(result.bytesDownloaded < s.bundle.layout.totalSize / 2, `downloaded ${result.bytesDownloaded} of a ${s.bundle.layout.totalSize}-byte bundle`);
  assert.equal(result.reused.bytes, chunks.filter((c) => local.has(c.sha256)).reduce((sum, c) => sum + c.size, 0), 'reused = the image bytes of the local chunks');
  assert.ok((result.reused.from.A ?? 0) > 0, 'most of it from slot A');
  assert.ok(messages.some((m) => /^reused .* from slot A.*, downloaded /.test(m)), `the progress says what was reused: ${messages.join(' | ')}`);

  const state = await loadEngineState(s.env.stateDir);
  assert.equal(state.install?.bytesReused, result.reused.bytes);
  assert.equal(state.slots.B?.chunkIndex?.sha256, s.bundle.manifest.image.packed?.index.sha256, 'the slot records its chunk index');
  assert.ok((await readFile(slotIndexPath(s.env.stateDir, 'B'))).length === s.bundle.manifest.image.packed?.index.size);
});

test('a delta install copies no local chunk whose bytes changed on disk: a bit flipped in slot A after it was indexed is fetched instead', async (t) => {
  const s = await deltaScene(t);
  // Slot A's record says it holds v1 with v1's index (as after an install of v1 into A): the engine trusts the index, not a scan.
  const dir = path.dirname(s.bundle.path);
  const v1Path = path.join(dir, 'v1.img');
  await writeFile(v1Path, s.v1);
  const v1 = await makeBundle(dir, { image: v1Path, version: '1.0.0', compatible: TEST_COMPATIBLE, key: s.env.keys, format: 2, zstdLevel: 3, name: 'v1.tar' });
  const { saveSlotIndex } = await import('./slot-index.js');
  const { applyEngineEvent } = await import('./lifecycle.js');
  const { encodeChunkIndex } = await import('../../verify/chunk-index.js');
  await saveSlotIndex(s.env.stateDir, 'A', encodeChunkIndex(v1.manifest.image.chunks));
  const { min, avg, max } = v1.manifest.image.packed!.chunking;
  await applyEngineEvent(s.env.stateDir, 'slot-recorded', (current) => ({
    slots: { ...current.slots, A: { version: '1.0.0', manifestSha256: 'a'.repeat(64), installedAt: new Date().toISOString(), chunkIndex: { sha256: v1.manifest.image.packed!.index.sha256, chunking: { min, avg, max }, imageSize: SIZE } } },
  }));
  // A chunk of v1 that v2 also has (unchanged content), flipped on disk in slot A.
  const v2Hashes = new Set(s.bundle.manifest.image.chunks.map((c) => c.sha256));
  let at = 0;
  let flipAt = -1;
  for (const c of v1.manifest.image.chunks) {
    if (v2Hashes.has(c.sha256) && at > 100_000 && s.v1.subarray(at, at + c.size).some((b) => b !== 0)) {
      flipAt = at + Math.floor(c.size / 2);
      break;
    }
    at += c.size;
  }
  assert.ok(flipAt > 0, 'a shared chunk to damage');
  const handle = await open(s.env.disk.path, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, s.env.disk.slots.A.offset + flipAt);
  byte[0]! ^= 0x01;
  await handle.write(byte, 0, 1, s.env.disk.slots.A.offset + flipAt);
  await handle.close();
  const before = await bootedSnapshot(s.env);

  const result = await installBundle(await engineInstallOptions(s.env, { source: s.url }));
  assert.ok((await slotBytes(s.env, 'B', SIZE)).equals(s.v2), 'slot B holds v2 byte for byte, not the flipped bit');
  assert.ok(result.reused.localMismatches >= 1, `the changed chunk was detected (${result.reused.localMismatches})`);
  assert.deepEqual(await bootedSnapshot(s.env), before, 'slot A is not repaired or touched either');
});

test('a delta install killed part-way resumes: the second run keeps what the first wrote and fetches only what is still missing', async (t) => {
  const s = await deltaScene(t);
  const controller = new AbortController();
  let copies = 0;
  await assert.rejects(
    installBundle(
      await engineInstallOptions(s.env, {
        source: s.url,
        signal: controller.signal,
        checkpointBytes: 64 * 1024,
        checkpoint: (point) => {
          if (point === 'chunk-written' && ++copies === 60) controller.abort();
        },
      }),
    ),
    (e: unknown) => isUpdaterError(e, 'ERR_ABORTED'),
  );
  const partial = await loadEngineState(s.env.stateDir);
  assert.equal(partial.state, 'IDLE');
  assert.ok(partial.install !== null, 'the resume record is kept');
  const firstRequests = s.env.server.requests.length;
  const result = await installBundle(await engineInstallOptions(s.env, { source: s.url }));
  assert.ok(result.chunks.reused > 0, `the second run kept ${result.chunks.reused} chunks`);
  assert.ok((await slotBytes(s.env, 'B', SIZE)).equals(s.v2), 'slot B holds v2 byte for byte');
  assert.deepEqual(await cgptFlags(s.env.disk.path, s.env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false });
  const secondRun = s.env.server.requests.slice(firstRequests).reduce((sum, r) => sum + r.bytes, 0);
  assert.ok(secondRun < s.bundle.layout.totalSize / 2, `the second run downloaded ${secondRun} bytes`);
});

test('a format 1 bundle still installs next to format 2 (no delta: the whole image is streamed)', async (t) => {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const result = await installBundle(await engineInstallOptions(env));
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, env.bundle.manifest.image.size), env.bundle.manifest.image.sha256);
  assert.equal(result.reused.bytes, 0);
  assert.equal(env.server.totalBytes(), env.bundle.layout.totalSize);
});

test('a server that ignores Range: the delta install falls back to the one full stream and still writes v2', async (t) => {
  const s = await deltaScene(t);
  s.env.server.faults.ignoreRange = {};
  const result = await installBundle(await engineInstallOptions(s.env, { source: s.url }));
  assert.ok((await slotBytes(s.env, 'B', SIZE)).equals(s.v2));
  assert.ok(result.reused.bytes > 0, 'local chunks were still copied');
  assert.equal(s.env.server.requests.filter((r) => r.path === 'v2.tar' && r.status === 200).length, 1, 'one whole-file answer, read once');
});

test('a hostile format 2 bundle (index hash wrong, chunks past the image member) is refused before any write: slots and flags unchanged', async (t) => {
  const s = await deltaScene(t);
  const { readBundleParts, assembleBundle, withChunkIndex } = await import('../../fixtures/hostile-tar.js');
  const parts = await readBundleParts(s.bundle.path);
  const flipped = Buffer.from(parts.index!);
  flipped[100]! ^= 1;
  const chunks = s.bundle.manifest.image.chunks.map((c) => ({ ...c, stored: { ...c.stored! } }));
  chunks[3]!.stored!.size += 1;
  chunks[3]!.size += 1;
  chunks.at(-1)!.size -= 1;
  const dir = path.dirname(s.bundle.path);
  const cases: Array<[string, Buffer, string]> = [
    ['index hash wrong', assembleBundle({ ...parts, index: flipped }), 'ERR_INDEX_HASH'],
    ['chunk offsets past the image member', withChunkIndex(parts, chunks, s.env.keys.privateKey), 'ERR_INDEX'],
  ];
  const slotB = async (): Promise<string> => hashRange(s.env.disk.path, s.env.disk.slots.B.offset, s.env.disk.slots.B.size);
  for (const [what, bytes, code] of cases) {
    const file = path.join(dir, `hostile-${code}.tar`);
    await writeFile(file, bytes);
    const url = s.env.serve(path.basename(file), file);
    const before = { a: await bootedSnapshot(s.env), b: await slotB(), flagsB: await cgptFlags(s.env.disk.path, s.env.disk.slots.B.partition) };
    await assert.rejects(installBundle(await engineInstallOptions(s.env, { source: url })), (e: unknown) => isUpdaterError(e, code as never), what);
    assert.deepEqual(await bootedSnapshot(s.env), before.a, `${what}: slot A and its flags unchanged`);
    assert.equal(await slotB(), before.b, `${what}: not a byte of slot B written`);
    assert.deepEqual(await cgptFlags(s.env.disk.path, s.env.disk.slots.B.partition), before.flagsB, `${what}: slot B's flags unchanged`);
  }
});

test('a delta install SIGKILLed mid-copy and mid-download resumes: v2 exactly, slot A untouched, B bootable only at the end', async (t) => {
  const s = await deltaScene(t);
  const before = await bootedSnapshot(s.env);
  const argv = await fastKillCliArgv();
  const options = ['--disk', s.env.disk.path, '--booted', 'A', '--keyring', s.env.keys.keyringDir, '--state-dir', s.env.stateDir, '--run-dir', s.env.runDir, '--compatible', TEST_COMPATIBLE];
  // chunk-written counts copied and downloaded chunks alike (copies come first); first-chunk-written is the last write.
  const kills: string[] = [];
  for (const spec of ['chunk-written:30', 'chunk-written:10', 'first-chunk-written:1']) {
    const killed = await execa(argv[0] as string, [...argv.slice(1), spec, 'install', s.url, ...options], { reject: false });
    if (killed.signal !== 'SIGKILL') {
      assert.equal(killed.exitCode, 0, `${spec}: ${killed.stderr}`); // the point came after the install had finished
      break;
    }
    kills.push(spec);
    assert.deepEqual(await bootedSnapshot(s.env), before, `${spec}: slot A and its flags unchanged`);
    assert.equal((await cgptFlags(s.env.disk.path, s.env.disk.slots.B.partition)).priority, 0, `${spec}: B is not bootable half-written`);
  }
  assert.equal(kills.length, 3, `killed at ${kills.join(', ')}`);
  const beforeRerun = s.env.server.requests.length;
  const rerun = await runCli(['install', s.url, ...options, '--json']);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.ok((await slotBytes(s.env, 'B', SIZE)).equals(s.v2), 'slot B holds v2 byte for byte');
  assert.deepEqual(await bootedSnapshot(s.env), before);
  assert.deepEqual(await cgptFlags(s.env.disk.path, s.env.disk.slots.B.partition), { priority: 2, tries: 1, successful: false });
  // Each run fetches at most one delta (the head, the chunks no slot has, the tar end); the rerun no more than that.
  const local = new Set([...(await chunkHashes(s.v1, s.bundle)), ...(await chunkHashes(Buffer.alloc(s.env.disk.slots.B.size), s.bundle))]);
  const delta = s.bundle.layout.totalSize - s.bundle.manifest.image.chunks.filter((c) => local.has(c.sha256)).reduce((sum, c) => sum + c.stored!.size, 0);
  const rerunBytes = s.env.server.requests.slice(beforeRerun).reduce((sum, r) => sum + r.bytes, 0);
  assert.ok(rerunBytes <= delta, `the rerun downloaded ${rerunBytes} bytes, at most one delta (${delta})`);
  const total = s.env.server.requests.filter((r) => r.path === 'v2.tar').reduce((sum, r) => sum + r.bytes, 0);
  assert.ok(total <= 4 * delta, `all four runs together downloaded ${total} bytes, at most four deltas`);
});

test('a format 2 chunk that inflates past its declared size is refused before any write to slot B (a small delta is fetched and verified first); A and the flags untouched', async (t) => {
  const s = await deltaScene(t);
  const { readBundleParts, withChunkIndex } = await import('../../fixtures/hostile-tar.js');
  const parts = await readBundleParts(s.bundle.path);
  const chunks = s.bundle.manifest.image.chunks.map((c) => ({ ...c, stored: { ...c.stored! } }));
  const local = new Set([...(await chunkHashes(s.v1, s.bundle))]);
  // A compressed chunk the host does not have, declared one byte smaller than its frame (the next one byte larger).
  const k = chunks.findIndex((c, i) => i > 0 && c.stored!.size < c.size && !local.has(c.sha256) && chunks[i + 1] !== undefined && chunks[i + 1]!.stored!.size < chunks[i + 1]!.size);
  assert.ok(k > 0, 'a missing compressed chunk to craft');
  chunks[k]!.size -= 1;
  chunks[k + 1]!.size += 1;
  const file = path.join(path.dirname(s.bundle.path), 'bomb.tar');
  await writeFile(file, withChunkIndex(parts, chunks, s.env.keys.privateKey));
  const before = await bootedSnapshot(s.env);
  const at = chunks.slice(0, k).reduce((sum, c) => sum + c.size, 0);
  const region = async (): Promise<string> => hashRange(s.env.disk.path, s.env.disk.slots.B.offset + at, chunks[k]!.size + 1);
  const regionBefore = await region();
  const slotB = async (): Promise<string> => hashRange(s.env.disk.path, s.env.disk.slots.B.offset, s.env.disk.slots.B.size);
  const slotBBefore = await slotB();
  await assert.rejects(installBundle(await engineInstallOptions(s.env, { source: s.env.serve('bomb.tar', file) })), (e: unknown) => isUpdaterError(e, 'ERR_CHUNK_INFLATE'));
  assert.equal(await region(), regionBefore, "no byte of the bomb chunk's range of slot B was written");
  assert.equal(await slotB(), slotBBefore, 'not a byte of slot B was written: the missing chunks were verified before the first write');
  assert.deepEqual(await bootedSnapshot(s.env), before, 'slot A and its flags unchanged');
  assert.equal((await cgptFlags(s.env.disk.path, s.env.disk.slots.B.partition)).priority, 0, 'slot B is not bootable');
  assert.equal((await loadEngineState(s.env.stateDir)).lastError?.code, 'ERR_CHUNK_INFLATE');
});
