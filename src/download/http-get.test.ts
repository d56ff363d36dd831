// Tests of the download's own HTTP client (http-get.ts, through the HTTP byte source) on 127.0.0.1: redirects, no
// https -> http downgrade, no credentials to another origin, TLS failures, timeouts, network errors, abort.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readAll, serveRandomBlob } from '../../fixtures/http-server.js';
import { startHttpsProxy } from '../../fixtures/https-proxy.js';
import { makeTestPki } from '../../fixtures/tls.js';
import { isUpdaterError } from '../../common/errors.js';
import { openByteSource, type ByteSource, type SourceEvent } from './byte-source.js';

const pki = await makeTestPki({ after });
const SIZE = 512 * 1024 + 7;
const fast = { backoff: { baseMs: 5, maxMs: 20 }, timeouts: { stall: 300, response: 2000 } };

const setup = (t: Parameters<typeof serveRandomBlob>[0]) => serveRandomBlob(t, SIZE);

/** A server that answers every request with `answer` and records what it was sent. */
async function startRecorder(t: { after(fn: () => Promise<void>): void }, answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: { url: string; authorization: string | undefined; range: string | undefined }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization, range: req.headers.range });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('http source follows redirects (relative and to another origin) and keeps the Range', async (t) => {
  const { data, server } = await setup(t);
  const front = await startRecorder(t, (req, res) => {
    const target = req.url === '/a' ? '/b' : req.url === '/b' ? `${server.origin}/blob` : '/a';
    res.writeHead(req.url === '/b' ? 307 : 301, { location: target, 'content-length': '0' }).end();
  });
  const source = openByteSource(`${front.origin}/start`, fast);
  assert.ok((await readAll(source, 1000, 5000)).equals(data.subarray(1000, 5000)));
  assert.deepEqual(front.seen.map((r) => r.url), ['/start', '/a', '/b']);
  assert.deepEqual(server.requests.map((r) => [r.range, r.status]), [['bytes=1000-4999', 206]]);
});

test('http source sends basic auth after a redirect on the same origin, and never to another origin', async (t) => {
  const other = await startRecorder(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '5' }).end('hello');
  });
  const first = await startRecorder(t, (req, res) => {
    if (req.url === '/bundle') res.writeHead(302, { location: '/moved', 'content-length': '0' }).end();
    else res.writeHead(302, { location: `${other.origin}/bundle`, 'content-length': '0' }).end();
  });
  const source = openByteSource(`${first.origin}/bundle`, { ...fast, auth: { username: 'fleet', password: 'pw' } });
  assert.equal((await readAll(source, 0)).toString(), 'hello');
  const basic = `Basic ${Buffer.from('fleet:pw').toString('base64')}`;
  assert.deepEqual(first.seen.map((r) => r.authorization), [basic, basic]);
  assert.deepEqual(other.seen.map((r) => r.authorization), [undefined]);
});

test('http source gives up after 10 redirects (a loop) and says so', async (t) => {
  const loop = await startRecorder(t, (_req, res) => {
    res.writeHead(302, { location: '/again', 'content-length': '0' }).end();
  });
  await assert.rejects(readAll(openByteSource(`${loop.origin}/x`, { ...fast, retries: 0 }), 0), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_NETWORK'));
    assert.match(error.message, /Redirected 10 times/);
    return true;
  });
  assert.equal(loop.seen.length, 11);
});

test('http source over https refuses a redirect to plain http with ERR_TLS, not retried, and the http server sees nothing', async (t) => {
  const { server } = await setup(t);
  const proxy = await startHttpsProxy(t, pki, server.origin, { redirectTo: `${server.origin}/blob` });
  const source = openByteSource(`${proxy.origin}/blob`, { ...fast, tls: { certificateAuthority: await readFile(pki.caFile) } });
  await assert.rejects(readAll(source, 0), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_TLS'));
    assert.equal(error.message, `Cannot follow the redirect from ${proxy.origin} to ${server.origin}: it leaves https for plain http`);
    return true;
  });
  assert.equal(proxy.requests.length, 1, 'not retried');
  assert.equal(server.requests.length, 0, 'nothing went over plain http');
});

test('http source over https with the CA and a client certificate reads the bundle; with another CA it is ERR_TLS, not retried', async (t) => {
  const { data, server } = await setup(t);
  const proxy = await startHttpsProxy(t, pki, server.origin, { requireClientCert: true });
  const tls = { certificateAuthority: await readFile(pki.caFile), certificate: await readFile(pki.clientCertFile), key: await readFile(pki.clientKeyFile) };
  assert.ok((await readAll(openByteSource(`${proxy.origin}/blob`, { ...fast, tls }), 10, 20_000)).equals(data.subarray(10, 20_000)));
  assert.ok(proxy.requests.length === 1 && proxy.requests[0]?.clientCn === 'abupdate-client');
  const events: SourceEvent[] = [];
  const wrong = openByteSource(`${proxy.origin}/blob`, { ...fast, tls: { ...tls, certificateAuthority: await readFile(pki.otherCaFile) }, onEvent: (e) => events.push(e) });
  await assert.rejects(readAll(wrong, 0), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_TLS'));
    assert.match(error.message, /failed TLS verification: its certificate is not signed by a trusted CA/);
    return true;
  });
  assert.equal(proxy.requests.length, 1, 'the refused one never got to a request');
  assert.deepEqual(events.map((e) => e.type), ['request'], 'not retried');
});

test('http source: headers later than the response timeout are ERR_TIMEOUT after the retries', async (t) => {
  const { server } = await setup(t);
  server.faults = { delay: { ms: 1000 } };
  await assert.rejects(readAll(openByteSource(server.url('blob'), { ...fast, retries: 1, timeouts: { response: 100 } }), 0), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_TIMEOUT'));
    assert.match(error.message, /Timeout awaiting 'response' for 100ms/);
    return true;
  });
  assert.equal(server.requests.length, 2);
});

test('http source: a refused connection is ERR_NETWORK (ECONNREFUSED) after the retries', async () => {
  // A port that was free a moment ago: nothing listens on it.
  const spare = http.createServer();
  await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
  const freePort = (spare.address() as AddressInfo).port;
  await new Promise((resolve) => spare.close(resolve));
  await assert.rejects(readAll(openByteSource(`http://127.0.0.1:${freePort}/x`, { ...fast, retries: 2 }), 0), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_NETWORK'));
    assert.equal(error.data?.errno, 'ECONNREFUSED');
    return true;
  });
});

test('http source: aborting the signal mid-body is ERR_ABORTED and closes the connection', async (t) => {
  const { server } = await setup(t);
  server.faults = { throttle: { bytes: 4096, ms: 20 } };
  const controller = new AbortController();
  const source = openByteSource(server.url('blob'), { ...fast, signal: controller.signal });
  let got = 0;
  await assert.rejects(
    (async () => {
      for await (const piece of source.read(0)) {
        got += piece.length;
        if (got >= 16_384) controller.abort();
      }
    })(),
    (error: unknown) => isUpdaterError(error, 'ERR_ABORTED'),
  );
  const served = server.totalBytes();
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(server.totalBytes() <= served + 4096, `the server sends at most the piece in flight: ${served} then ${server.totalBytes()}`);
  assert.equal(server.requests.length, 1);
});
