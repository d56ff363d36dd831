// Tests of the HTTP and file byte sources against a real server on 127.0.0.1 with injected faults.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readAll, serveRandomBlob } from '../../fixtures/http-server.js';
import { isUpdaterError } from '../../common/errors.js';
import { createFileSource, openByteSource, readSegmented, type ByteSource, type SourceEvent } from './byte-source.js';
import { backoffDelay, parseContentRange } from './http-range.js';

const SIZE = 3 * 1024 * 1024 + 123;
const fast = { backoff: { baseMs: 5, maxMs: 20 }, timeouts: { stall: 300, response: 2000 } };

const setup = (t: Parameters<typeof serveRandomBlob>[0]) => serveRandomBlob(t, SIZE);

test('http source reads from an offset with a Range request and the server sends only those bytes', async (t) => {
  const { data, server } = await setup(t);
  const source = openByteSource(server.url('blob'), fast);
  assert.ok((await readAll(source, 1000)).equals(data.subarray(1000)));
  assert.equal(server.requests[0]?.range, 'bytes=1000-');
  assert.equal(server.requests[0]?.status, 206);
  assert.equal(server.totalBytes(), SIZE - 1000);
  assert.ok((await readAll(source, 10, 20)).equals(data.subarray(10, 20)));
  assert.equal(server.requests[1]?.range, 'bytes=10-19');
});

test('http source resumes with Range after the server resets the connection mid-way', async (t) => {
  const { data, server } = await setup(t);
  server.faults = { destroyAfter: { bytes: 1024 * 1024, times: 2 } };
  const events: SourceEvent[] = [];
  const source = openByteSource(server.url('blob'), { ...fast, onEvent: (e) => events.push(e) });
  assert.ok((await readAll(source, 0)).equals(data));
  assert.equal(server.requests.length, 3);
  assert.equal(server.requests[1]?.range, `bytes=${server.requests[0]?.bytes}-`);
  assert.ok(server.totalBytes() < SIZE * 1.2, `served ${server.totalBytes()}`);
  assert.equal(events.filter((e) => e.type === 'retry').length, 2);
});

test('http source skips the bytes before the offset itself when the server ignores Range', async (t) => {
  const { data, server } = await setup(t);
  server.faults = { ignoreRange: {} };
  const events: SourceEvent[] = [];
  const source = openByteSource(server.url('blob'), { ...fast, onEvent: (e) => events.push(e) });
  assert.ok((await readAll(source, 5000, 70000)).equals(data.subarray(5000, 70000)));
  assert.equal(server.requests[0]?.status, 200);
  assert.deepEqual(events.find((e) => e.type === 'range-ignored'), { type: 'range-ignored', skip: 5000 });
});

test('http source retries a 500 and fails with ERR_HTTP_STATUS on 404 without retrying', async (t) => {
  const { data, server } = await setup(t);
  server.faults = { status: { code: 500, times: 2 } };
  assert.ok((await readAll(openByteSource(server.url('blob'), fast), 0)).equals(data));
  assert.deepEqual(server.requests.map((r) => r.status), [500, 500, 200]);
  const before = server.requests.length;
  await assert.rejects(readAll(openByteSource(server.url('nothing'), fast), 0), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_HTTP_STATUS'));
    assert.equal(error.data?.status, 404);
    return true;
  });
  assert.equal(server.requests.length, before + 1);
});

test('http source gives up with ERR_HTTP_STATUS after its retries on a server that keeps failing', async (t) => {
  const { server } = await setup(t);
  server.faults = { status: { code: 503 } };
  await assert.rejects(readAll(openByteSource(server.url('blob'), { ...fast, retries: 3 }), 0), (error: unknown) => isUpdaterError(error, 'ERR_HTTP_STATUS'));
  assert.equal(server.requests.length, 4);
});

test('http source aborts a stalled body after the stall timeout and resumes from the byte it had', async (t) => {
  const { data, server } = await setup(t);
  server.faults = { stallAfter: { bytes: 700_000, times: 1 } };
  const started = Date.now();
  assert.ok((await readAll(openByteSource(server.url('blob'), fast), 0)).equals(data));
  assert.ok(Date.now() - started >= 300);
  assert.equal(server.requests[1]?.range, `bytes=${server.requests[0]?.bytes}-`);
});

test('http source fails with ERR_TIMEOUT when the server always stalls', async (t) => {
  const { server } = await setup(t);
  server.faults = { stallAfter: { bytes: 0 } };
  await assert.rejects(readAll(openByteSource(server.url('blob'), { ...fast, retries: 1, timeouts: { stall: 100, response: 2000 } }), 0), (error: unknown) =>
    isUpdaterError(error, 'ERR_TIMEOUT'),
  );
});

test('http source refuses a Content-Range that does not start at the asked byte', async (t) => {
  const http = await import('node:http');
  const bad = http.createServer((_req, res) => {
    res.writeHead(206, { 'content-range': 'bytes 0-9/100', 'content-length': '10' }).end('0123456789');
  });
  await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => bad.close(resolve)));
  const port = (bad.address() as { port: number }).port;
  await assert.rejects(readAll(openByteSource(`http://127.0.0.1:${port}/x`, fast), 50), (error: unknown) => isUpdaterError(error, 'ERR_HTTP_RANGE'));
});

test('readSegmented() fetches one Range window at a time and ends cleanly on a window boundary', async (t) => {
  const { data, server } = await setup(t);
  const source = openByteSource(server.url('blob'), fast);
  const parts: Buffer[] = [];
  for await (const piece of readSegmented(source, 123, () => 1024 * 1024)) parts.push(piece);
  assert.ok(Buffer.concat(parts).equals(data.subarray(123)));
  assert.deepEqual(server.requests.map((r) => r.range), ['bytes=123-1048698', 'bytes=1048699-2097274', 'bytes=2097275-3145850', 'bytes=3145851-4194426']);
  server.requests.length = 0;
  const boundary = SIZE - 2 * 65536;
  const tail: Buffer[] = [];
  for await (const piece of readSegmented(source, boundary, () => 65536)) tail.push(piece);
  assert.ok(Buffer.concat(tail).equals(data.subarray(boundary)));
  assert.deepEqual(server.requests.map((r) => r.status), [206, 206, 416]);
});

test('file source reads any byte range of a file', async (t) => {
  const { data, file } = await setup(t);
  const source = createFileSource(file);
  assert.ok((await readAll(source, 7)).equals(data.subarray(7)));
  assert.ok((await readAll(source, 100, 2_000_000)).equals(data.subarray(100, 2_000_000)));
  await assert.rejects(readAll(createFileSource(`${file}.missing`), 0), (error: unknown) => isUpdaterError(error, 'ERR_IO'));
});

test('parseContentRange() and backoffDelay() follow the header grammar and stay within their bounds', () => {
  assert.deepEqual(parseContentRange('bytes 5-9/10'), { start: 5, end: 9, total: 10 });
  assert.deepEqual(parseContentRange('bytes 5-9/*'), { start: 5, end: 9, total: undefined });
  assert.equal(parseContentRange('bytes 9-5/10'), undefined);
  assert.equal(parseContentRange('items 1-2/3'), undefined);
  for (let i = 0; i < 50; i += 1) {
    const d = backoffDelay(3, { baseMs: 100, maxMs: 1000 });
    assert.ok(d >= 400 && d <= 800, String(d));
    assert.ok(backoffDelay(20, { baseMs: 100, maxMs: 1000 }) <= 1000);
  }
});

test('http source, windowed reads from a server that ignores Range: one 200 stream read once, not one whole file per window', async (t) => {
  const { data, server } = await setup(t);
  server.faults = { ignoreRange: {} };
  const events: SourceEvent[] = [];
  const source = openByteSource(server.url('blob'), { ...fast, onEvent: (e) => events.push(e) });
  const parts: Buffer[] = [];
  for await (const piece of readSegmented(source, 0, () => 64 * 1024)) parts.push(piece);
  assert.ok(Buffer.concat(parts).equals(data));
  assert.equal(server.requests.length, 1, 'one request for all 49 windows');
  assert.ok(server.totalBytes() <= SIZE * 1.1, `served ${server.totalBytes()} for ${SIZE}`);
  assert.equal(events.filter((e) => e.type === 'request').length, 1);
  source.close();
  // A later window that starts further on (chunks already in the slot) skips forward in the same stream.
  const again = openByteSource(server.url('blob'), fast);
  assert.ok((await readAll(again, 0, 1000)).equals(data.subarray(0, 1000)));
  assert.ok((await readAll(again, 2 * 1024 * 1024, 2 * 1024 * 1024 + 10)).equals(data.subarray(2 * 1024 * 1024, 2 * 1024 * 1024 + 10)));
  // Backwards: a new request (the stream cannot go back).
  assert.ok((await readAll(again, 10, 20)).equals(data.subarray(10, 20)));
  again.close();
  assert.equal(server.requests.length, 3);
});

test('http source, a server that ignores Range and drops the connection: one new request from byte 0, then linear again', async (t) => {
  const { data, server } = await setup(t);
  server.faults = { ignoreRange: {}, destroyAfter: { bytes: SIZE / 2, times: 1 } };
  const source = openByteSource(server.url('blob'), fast);
  const parts: Buffer[] = [];
  for await (const piece of readSegmented(source, 0, () => 100_000)) parts.push(piece);
  assert.ok(Buffer.concat(parts).equals(data));
  assert.equal(server.requests.length, 2);
  assert.ok(server.totalBytes() <= SIZE * 1.1 + SIZE / 2 + 1, `served ${server.totalBytes()}`);
  source.close();
});

test('http source below the speed limit for the speed time fails with ERR_NETWORK_SLOW (a server trickling 16 bytes every 200 ms), and does not retry', async (t) => {
  const { server } = await setup(t);
  server.faults = { throttle: { bytes: 16, ms: 200 } };
  const source = openByteSource(server.url('blob'), { ...fast, timeouts: { stall: 5000, response: 2000 }, speedLimit: { bytesPerSecond: 1024, timeMs: 1000 } });
  await assert.rejects(readAll(source, 0), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_NETWORK_SLOW'));
    assert.match(error.message, /bytes\/s for \d+ s, below the limit of 1024 bytes\/s for 1 s/);
    return true;
  });
  assert.equal(server.requests.length, 1, 'not retried');
  assert.ok(server.totalBytes() < 16 * 20, `served ${server.totalBytes()}`);
});
