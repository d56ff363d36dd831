// Tests of what the download makes of the bytes on the wire (through openByteSource, whatever parses the HTTP/1.1
// response): raw TCP servers on 127.0.0.1 write every byte themselves: chunked bodies in awkward pieces, interim
// 1xx answers, cut-off bodies and their resumption, malformed heads and chunks, mixed-case headers, a large body.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { readAll } from '../../fixtures/http-server.js';
import { isUpdaterError, type ErrorCode } from '../../common/errors.js';
import { openByteSource, type ByteSource } from './byte-source.js';

const fast = { backoff: { baseMs: 5, maxMs: 20 }, timeouts: { stall: 300, response: 2000 } };
/** A test that hangs fails instead (a promise nobody settles, a socket nobody closes). */
const guard = { timeout: 20_000 };

/** One request as the raw server read it: header names lowercased. */
interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

interface RawServer {
  origin: string;
  requests: RawRequest[];
  /** One per connection accepted: resolves when that socket has closed. */
  closed: Promise<void>[];
}

/**
 * A TCP server that reads one request head per connection and hands the socket to ANSWER, which writes the response
 * bytes itself (and closes the socket, or not). Every socket is destroyed and the server closed after T.
 */
async function startRawServer(t: TestContext, answer: (socket: Socket, request: RawRequest, index: number) => void | Promise<void>): Promise<RawServer> {
  const requests: RawRequest[] = [];
  const closed: Promise<void>[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // EPIPE, ECONNRESET: the client let go first
    closed.push(
      new Promise<void>((resolve) =>
        socket.once('close', () => {
          sockets.delete(socket);
          resolve();
        }),
      ),
    );
    let head = Buffer.alloc(0);
    const onData = (data: Buffer): void => {
      head = Buffer.concat([head, data]);
      const endAt = head.indexOf('\r\n\r\n');
      if (endAt < 0) return;
      socket.off('data', onData);
      const [requestLine = '', ...lines] = head.subarray(0, endAt).toString('latin1').split('\r\n');
      const [method = '', path = ''] = requestLine.split(' ');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const request = { method, path, headers };
      requests.push(request);
      void Promise.resolve(answer(socket, request, requests.length - 1)).catch(() => socket.destroy());
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, closed };
}

/** Writes PIECES one write each, GAP_MS apart (backpressure respected); stops if the client has gone. */
async function writePieces(socket: Socket, pieces: (string | Buffer)[], gapMs: number): Promise<void> {
  for (const piece of pieces) {
    if (socket.destroyed) return;
    if (!socket.write(piece)) await new Promise<void>((resolve) => socket.once('drain', resolve).once('close', resolve));
    if (gapMs > 0) await sleep(gapMs);
  }
}

/** BYTES cut at every given offset. */
function cutAt(bytes: Buffer, offsets: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const to of [...offsets].sort((a, b) => a - b)) {
    pieces.push(bytes.subarray(from, to));
    from = to;
  }
  pieces.push(bytes.subarray(from));
  return pieces.filter((piece) => piece.length > 0);
}

/** BYTES in pieces of SIZE. */
function slices(bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  return pieces;
}

const bin = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Rejects with CODE; returns the error and how many body bytes the source gave before it. */
async function readFails(source: ByteSource, code: ErrorCode, start = 0): Promise<{ error: Error; delivered: number }> {
  let delivered = 0;
  let failure: Error | undefined;
  await assert.rejects(
    (async () => {
      for await (const piece of source.read(start)) delivered += piece.length;
    })(),
    (error: unknown) => {
      assert.ok(isUpdaterError(error), `an UpdaterError, not ${String(error)}`);
      assert.equal(error.code, code, error.message);
      failure = error;
      return true;
    },
  );
  assert.ok(failure);
  return { error: failure, delivered };
}

// --- 1. chunked framing -------------------------------------------------------------------------------------------

/** A chunked body with extensions, uppercase hex sizes, a chunk whose data looks like a last chunk, and a trailer. */
function chunkedResponse(): { wire: Buffer; body: Buffer } {
  const first = bin('hello');
  const tricky = Buffer.concat([bin('\r\n0\r\n\r\n'), randomBytes(19)]); // 26 bytes = 0x1A
  const third = bin('0123456789'); // 0xA
  const wire = Buffer.concat([
    bin('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n'),
    bin('5;foo=bar\r\n'),
    first,
    bin('\r\n1A\r\n'),
    tricky,
    bin('\r\nA;ext;name=value\r\n'),
    third,
    bin('\r\n0\r\nX-Checksum: abc123\r\n\r\n'),
  ]);
  return { wire, body: Buffer.concat([first, tricky, third]) };
}

test('a chunked body with extensions, uppercase hex sizes and a trailer, sent one byte per write, is read exactly', guard, async (t) => {
  const { wire, body } = chunkedResponse();
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, slices(wire, 1), 1);
    socket.end();
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 0);
  assert.ok(got.equals(body), `got ${JSON.stringify(got.toString('latin1'))}`);
  assert.equal(server.requests.length, 1);
});

test('a chunked body cut inside size lines, between CR and LF, inside data and the trailer is read exactly', guard, async (t) => {
  const big = randomBytes(0xfff);
  const small = bin('tail-bytes');
  const wire = Buffer.concat([
    bin('HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: chunked\r\n\r\n'),
    bin('FFF;a=b\r\n'),
    big,
    bin('\r\na\r\n'),
    small,
    bin('\r\n0;last\r\nX-Trailer: done\r\n\r\n'),
  ]);
  const at = (needle: string, from = 0): number => wire.indexOf(needle, from, 'latin1');
  const head = at('\r\n\r\n') + 4;
  const cuts = [
    at('ENCODING'), // inside a header name
    head - 1, // between the last CR and LF of the head
    head + 1, // inside "FFF"
    head + 2,
    head + 'FFF;a'.length, // inside the extension
    head + 'FFF;a=b\r'.length, // between CR and LF
    head + 'FFF;a=b\r\n'.length + 1, // after the first data byte
    head + 'FFF;a=b\r\n'.length + 2048, // mid-data
    head + 'FFF;a=b\r\n'.length + 0xfff + 1, // between the data's CR and LF
    at('\r\na\r\n') + 3, // inside the second size line
    at('tail-') + 4,
    at('0;last') + 1,
    at('X-Trailer') + 5,
    wire.length - 1, // the very last LF alone
  ];
  assert.ok(cuts.every((offset) => offset > 0 && offset < wire.length));
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, cutAt(wire, cuts), 10);
    socket.end();
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 0);
  assert.ok(got.equals(Buffer.concat([big, small])), `got ${got.length} bytes`);
});

// --- 2. Content-Length and close-delimited bodies --------------------------------------------------------------------

test('a 200 with Content-Length sent in many small writes (the head cut too) is read exactly', guard, async (t) => {
  const body = randomBytes(10 * 1024 + 3);
  const head = bin(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nAccept-Ranges: bytes\r\n\r\n`);
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [...cutAt(head, [3, 12, 20, head.length - 3, head.length - 1]), ...slices(body, 97)], 1);
    // The connection stays open: Content-Length alone ends the body.
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 0);
  assert.ok(got.equals(body), `got ${got.length} bytes`);
});

test('a 200 with neither Content-Length nor chunking ends when the server closes, and is read exactly', guard, async (t) => {
  const body = randomBytes(20 * 1024 + 5);
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [bin('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n'), ...slices(body, 1000)], 1);
    socket.end();
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 0);
  assert.ok(got.equals(body), `got ${got.length} bytes`);
  assert.equal(server.requests.length, 1);
});

// --- 3. interim responses ------------------------------------------------------------------------------------------

test('100 Continue and 103 Early Hints before the 200 are skipped: only the real body is read', guard, async (t) => {
  const server = await startRawServer(t, async (socket) => {
    await writePieces(
      socket,
      [
        'HTTP/1.1 100 Continue\r\n\r\n',
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n',
        'hello world',
      ],
      5,
    );
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 0);
  assert.equal(got.toString('latin1'), 'hello world');
  assert.equal(server.requests.length, 1);
});

// --- 4, 5. cut-off bodies ------------------------------------------------------------------------------------------

test('a body shorter than its Content-Length, then the server closes, is ERR_NETWORK (no retries)', guard, async (t) => {
  const body = randomBytes(1000);
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [bin('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'), body.subarray(0, 400)], 0);
    socket.end();
  });
  const { delivered } = await readFails(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 'ERR_NETWORK');
  assert.ok(delivered <= 400, `delivered ${delivered}`);
  assert.equal(server.requests.length, 1);
});

test('a body cut short is resumed with Range: bytes=N- and the whole is exact', guard, async (t) => {
  const body = randomBytes(1000);
  const server = await startRawServer(t, async (socket, request, index) => {
    if (index === 0) {
      await writePieces(socket, [bin('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'), body.subarray(0, 400)], 0);
      socket.end(); // at once: the 400 bytes that came before the close still reach the reader
      return;
    }
    const from = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
    await writePieces(socket, [bin(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${from}-999/1000\r\nContent-Length: ${1000 - from}\r\n\r\n`), body.subarray(from)], 0);
    socket.end();
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 1 }), 0);
  assert.ok(got.equals(body), `got ${got.length} bytes`);
  assert.equal(server.requests.length, 2);
  assert.equal(server.requests[0]?.headers.range, undefined);
  assert.equal(server.requests[1]?.headers.range, 'bytes=400-');
});

test('a chunked body cut off inside a chunk (the server closes) is ERR_NETWORK', guard, async (t) => {
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n', '10\r\n0123456'], 5);
    socket.end();
  });
  await readFails(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 'ERR_NETWORK');
  assert.equal(server.requests.length, 1);
});

// --- 6. malformed responses ----------------------------------------------------------------------------------------

/** Sends header lines until the client goes (or 8 MiB: then nothing more, and the response timeout ends the test). */
async function endlessHead(socket: Socket): Promise<void> {
  await writePieces(socket, ['HTTP/1.1 200 OK\r\n'], 0);
  for (let line = 0; line < 100_000 && !socket.destroyed; line += 1) {
    await writePieces(socket, [`X-Filler-${line}: ${'x'.repeat(64)}\r\n`], 0);
  }
}

test('a 12 KiB response head (many headers, under any parser\'s limit) is accepted', guard, async (t) => {
  const filler = Array.from({ length: 160 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(64)}\r\n`).join('');
  assert.ok(filler.length > 12 * 1024 && filler.length < 14 * 1024);
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [`HTTP/1.1 200 OK\r\n${filler}Content-Length: 5\r\n\r\nhello`], 0);
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 0);
  assert.equal(got.toString('latin1'), 'hello');
});

const malformed: { name: string; send: string | ((socket: Socket) => Promise<void>) }[] = [
  { name: 'a garbage status line', send: 'HELLO\r\n\r\n' },
  { name: 'a header line without a colon', send: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nNoColonHere\r\n\r\nhello' },
  { name: 'both Content-Length and Transfer-Encoding: chunked', send: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  { name: 'two different Content-Length values', send: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!' },
  { name: 'a non-numeric Content-Length', send: 'HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello' },
  { name: 'a bad chunk size', send: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n' },
  { name: 'a response head larger than 80 KiB (endless header lines)', send: endlessHead },
];

for (const { name, send } of malformed) {
  test(`${name} is ERR_NETWORK, no data, and the client closes the connection`, guard, async (t) => {
    const server = await startRawServer(t, async (socket) => {
      if (typeof send === 'string') await writePieces(socket, [send], 0);
      else await send(socket);
      // The server never closes: the client must see the error in the bytes, not at the end of the stream.
    });
    const { delivered } = await readFails(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 'ERR_NETWORK');
    assert.equal(delivered, 0);
    assert.equal(server.requests.length, 1);
    await server.closed[0]; // the client let go of the socket (else the guard's timeout fails the test)
  });
}

// --- 7. status and Content-Range -----------------------------------------------------------------------------------

test('a 206 whose Content-Range does not start at the asked byte is ERR_HTTP_RANGE, not retried', guard, async (t) => {
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/200\r\nContent-Length: 100\r\n\r\n${'x'.repeat(100)}`], 0);
    socket.end();
  });
  const { error, delivered } = await readFails(openByteSource(`${server.origin}/blob`, { ...fast, retries: 1 }), 'ERR_HTTP_RANGE', 100);
  assert.ok(isUpdaterError(error));
  assert.equal(error.data?.contentRange, 'bytes 0-99/200');
  assert.equal(delivered, 0);
  assert.equal(server.requests.length, 1);
  assert.equal(server.requests[0]?.headers.range, 'bytes=100-');
});

test('a 404 with a body is ERR_HTTP_STATUS with status 404, its body not given as data, not retried', guard, async (t) => {
  const page = '<html><body>Not Found</body></html>';
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [`HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: ${page.length}\r\n\r\n${page}`], 0);
    socket.end();
  });
  const { error, delivered } = await readFails(openByteSource(`${server.origin}/blob`, { ...fast, retries: 1 }), 'ERR_HTTP_STATUS');
  assert.ok(isUpdaterError(error));
  assert.equal(error.data?.status, 404);
  assert.equal(delivered, 0);
  assert.equal(server.requests.length, 1);
});

// --- 8. header names in any case, relative redirects --------------------------------------------------------------

test('mixed-case Location, CONTENT-RANGE and Content-Length are understood; a relative 302 Location is followed', guard, async (t) => {
  const body = randomBytes(50);
  const server = await startRawServer(t, async (socket, request) => {
    if (request.path === '/dir/start') {
      await writePieces(socket, ['HTTP/1.1 302 Found\r\nLocation: ../files/blob?v=2\r\nContent-Length: 0\r\n\r\n'], 0);
      return; // left open: the redirect's empty body ends by its Content-Length
    }
    const [, from = '0', to = '49'] = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '') ?? [];
    const piece = body.subarray(Number(from), Number(to) + 1);
    await writePieces(socket, [bin(`HTTP/1.1 206 Partial Content\r\nCONTENT-RANGE: bytes ${from}-${to}/50\r\ncontent-LENGTH: ${piece.length}\r\n\r\n`), piece], 0);
    // Left open: only the Content-Length ends the body (or the stall timeout fails the read).
  });
  const got = await readAll(openByteSource(`${server.origin}/dir/start`, { ...fast, retries: 0 }), 10, 20);
  assert.ok(got.equals(body.subarray(10, 20)), `got ${got.length} bytes`);
  assert.deepEqual(
    server.requests.map((r) => [r.path, r.headers.range]),
    [
      ['/dir/start', 'bytes=10-19'],
      ['/files/blob?v=2', 'bytes=10-19'],
    ],
  );
});

test('a 200 with an uppercase CONTENT-LENGTH on a connection left open ends at that length', guard, async (t) => {
  const body = randomBytes(26);
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [bin(`HTTP/1.1 200 OK\r\nCONTENT-LENGTH: ${body.length}\r\n\r\n`), body], 0);
  });
  const got = await readAll(openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }), 0);
  assert.ok(got.equals(body));
});

// --- 9. a large body and a slow consumer ---------------------------------------------------------------------------

test('8 MiB with Content-Length in 64 KiB writes, read by a consumer that yields between pieces, is exact', guard, async (t) => {
  const body = randomBytes(8 * 1024 * 1024);
  const server = await startRawServer(t, async (socket) => {
    await writePieces(socket, [bin(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), ...slices(body, 64 * 1024)], 0);
    socket.end();
  });
  // Each piece is copied when it comes: the source may hand out views into a buffer it reuses for the next read.
  const got = Buffer.alloc(body.length);
  let at = 0;
  let pieces = 0;
  for await (const piece of openByteSource(`${server.origin}/blob`, { ...fast, retries: 0 }).read(0)) {
    assert.ok(at + piece.length <= body.length, 'no more bytes than the Content-Length');
    piece.copy(got, at);
    at += piece.length;
    pieces += 1;
    await nextTurn();
  }
  assert.equal(at, body.length);
  assert.ok(got.equals(body), 'the bytes are exact');
  assert.ok(pieces > 1, `${pieces} pieces`);
});

// --- 10. lent pieces (the install engine's mode): views into one reused read buffer ------------------------------

test('lent pieces are views into one read buffer, reused across reads and across the requests of one source; copied as they come, the bytes are exact', guard, async (t) => {
  const body = randomBytes(6 * 1024 * 1024 + 5);
  const server = await startRawServer(t, async (socket, request) => {
    const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
    const [from, to] = match ? [Number(match[1]), Number(match[2]) + 1] : [0, body.length];
    const head = match
      ? `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${from}-${to - 1}/${body.length}\r\nContent-Length: ${to - from}\r\n\r\n`
      : `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
    await writePieces(socket, [bin(head), ...slices(body.subarray(from, to), 64 * 1024)], 0);
  });
  const source = openByteSource(`${server.origin}/blob`, { ...fast, retries: 0, lendPieces: true });
  const got = Buffer.alloc(body.length);
  let at = 0;
  const memory = new Set<ArrayBufferLike>();
  let pieces = 0;
  // Three windows, three requests: the second and third read into the buffer the first gave back.
  for (const [start, end] of [[0, 2 * 1024 * 1024], [2 * 1024 * 1024, 4 * 1024 * 1024], [4 * 1024 * 1024, body.length]] as const) {
    for await (const piece of source.read(start, end)) {
      piece.copy(got, at);
      at += piece.length;
      memory.add(piece.buffer);
      pieces += 1;
      await nextTurn();
    }
  }
  assert.equal(server.requests.length, 3);
  assert.equal(at, body.length);
  assert.ok(got.equals(body), 'the bytes are exact');
  assert.ok(pieces > 3, `${pieces} pieces`);
  assert.equal(memory.size, 1, 'every piece of every request is a view into the same read buffer');
});

test('lent pieces of a chunked body sent one byte per write, and of a body cut short and resumed, are exact when copied as they come', guard, async (t) => {
  const { wire, body } = chunkedResponse();
  const chunked = await startRawServer(t, async (socket) => {
    await writePieces(socket, slices(wire, 1), 1);
  });
  const pieces: Buffer[] = [];
  for await (const piece of openByteSource(`${chunked.origin}/blob`, { ...fast, retries: 0, lendPieces: true }).read(0)) pieces.push(Buffer.from(piece));
  assert.ok(Buffer.concat(pieces).equals(body));

  const whole = randomBytes(300_000);
  const cut = await startRawServer(t, async (socket, request, index) => {
    const from = index === 0 ? 0 : Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1]);
    const head = index === 0
      ? `HTTP/1.1 200 OK\r\nContent-Length: ${whole.length}\r\n\r\n`
      : `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${from}-${whole.length - 1}/${whole.length}\r\nContent-Length: ${whole.length - from}\r\n\r\n`;
    await writePieces(socket, [bin(head), index === 0 ? whole.subarray(0, 123_457) : whole.subarray(from)], 0);
    socket.end();
  });
  const resumed: Buffer[] = [];
  for await (const piece of openByteSource(`${cut.origin}/blob`, { ...fast, retries: 1, lendPieces: true }).read(0)) resumed.push(Buffer.from(piece));
  assert.ok(Buffer.concat(resumed).equals(whole));
  assert.deepEqual(cut.requests.map((r) => r.headers.range), [undefined, 'bytes=123457-']);
});
