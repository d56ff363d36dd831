// The HTTP/1.1 response as bytes: the head (status line and header fields) and the body's framing (Content-Length,
// chunked, or to the close), parsed from what the socket gives, with no socket of its own. The download's client
// (http-get.ts) reads the socket into one reused buffer and hands the body on as views into it.

/** A response the parser will not read: reported as a network error (node's HPE_* codes are the same kind). */
export class HttpWireError extends Error {
  override name = 'HttpWireError';
  code = 'ERR_HTTP_WIRE';
}

/** Node's own client allows 16 KiB of head; a server that sends more is not one we can talk to. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line (with extensions) or a trailer section longer than this is refused. */
const MAX_LINE_BYTES = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;

export interface ResponseHead {
  statusCode: number;
  /** Field names in lower case; a repeated field is joined with ", " (as node does). */
  headers: Record<string, string>;
}

/** A field name (RFC 9110 token). */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible characters, spaces, tabs and obs-text; never NUL, CR or LF.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Parses one head (CRLF line ends; the blank line removed). */
export function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/.exec(lines[0] ?? '');
  if (!status) throw new HttpWireError(`the server's answer does not start with an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) throw new HttpWireError(`the server sent a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw new HttpWireError(`the server sent a control character in the header "${name}"`);
    const key = name.toLowerCase();
    const before = headers[key];
    if (key === 'content-length' && before !== undefined && before !== value) {
      throw new HttpWireError(`the server sent two different Content-Length headers (${before}, ${value})`);
    }
    headers[key] = before === undefined || key === 'content-length' ? value : `${before}, ${value}`;
  }
  return { statusCode: Number(status[1]), headers };
}

type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

/** How the body of a response to a GET ends (RFC 9112 section 6.3). */
function framingOf(head: ResponseHead): Framing {
  const { statusCode, headers } = head;
  if (statusCode === 204 || statusCode === 304) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    // The request smuggling rule: a message with both is refused (node's parser does the same).
    if (cl !== undefined) throw new HttpWireError('the server sent both Transfer-Encoding and Content-Length');
    const codings = te.toLowerCase().split(',').map((c) => c.trim());
    return codings[codings.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  if (cl !== undefined) {
    const left = /^\d{1,15}$/.test(cl) ? Number(cl) : NaN;
    if (!Number.isSafeInteger(left)) throw new HttpWireError(`the server sent an invalid Content-Length: ${JSON.stringify(cl.slice(0, 40))}`);
    return { kind: 'length', left };
  }
  return { kind: 'close' };
}

export interface ParserEvents {
  onHead(head: ResponseHead): void;
  onBody(bytes: Buffer): void;
  onEnd(): void;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/**
 * Feeds socket bytes in; calls `onHead` once with the final head (1xx answers are skipped), `onBody` with each run
 * of body bytes (a view into the buffer given to `push`, valid only until `push` is called again), and `onEnd` when
 * the body is complete. `close()` tells it the connection ended: complete for a body read to the close, an error
 * otherwise.
 */
export class ResponseParser {
  #head: Buffer[] = [];
  #headBytes = 0;
  #framing: Framing | undefined;
  /** Chunked: where in a chunk we are. */
  #chunk: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
  #chunkLeft = 0;
  #line = '';
  #trailerBytes = 0;
  #done = false;
  readonly events: ParserEvents;

  constructor(events: ParserEvents) {
    this.events = events;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Whether the head is in (the body, if any, follows). */
  get headed(): boolean {
    return this.#framing !== undefined;
  }

  push(bytes: Buffer): void {
    let rest = bytes;
    while (rest.length > 0 && !this.#done) {
      if (this.#framing === undefined) rest = this.#takeHead(rest);
      else rest = this.#takeBody(rest);
    }
  }

  close(): void {
    if (this.#done) return;
    if (this.#framing?.kind === 'close') {
      this.#finish();
      return;
    }
    const e = new HttpWireError(this.#framing === undefined ? 'socket hang up' : 'aborted');
    // What node says for a connection closed before the answer was complete (retried as a network error).
    e.code = 'ECONNRESET';
    throw e;
  }

  #finish(): void {
    this.#done = true;
    this.events.onEnd();
  }

  /** Collects the head (copied: the socket's buffer is reused); returns what follows it. */
  #takeHead(bytes: Buffer): Buffer {
    // The blank line may straddle two reads: look for it from 3 bytes before this read.
    const held = this.#headBytes;
    const joined = held === 0 ? bytes : Buffer.concat([...this.#head, bytes]);
    const end = joined.indexOf(CRLF_CRLF, Math.max(0, held - 3));
    if (end < 0) {
      // Over the limit only once no blank line that starts within it can still arrive.
      if (joined.length > MAX_HEAD_BYTES + 3) throw new HttpWireError(`the server's response head is over ${MAX_HEAD_BYTES} bytes`);
      this.#head = [Buffer.from(joined)];
      this.#headBytes = joined.length;
      return Buffer.alloc(0);
    }
    if (end > MAX_HEAD_BYTES) throw new HttpWireError(`the server's response head is over ${MAX_HEAD_BYTES} bytes`);
    const head = parseHead(joined.subarray(0, end).toString('latin1'));
    this.#head = [];
    this.#headBytes = 0;
    // What follows the head lies in `bytes` (the held part ends before the blank line does).
    const rest = bytes.subarray(end + 4 - held);
    if (head.statusCode >= 100 && head.statusCode < 200) return rest; // an interim answer: the real one follows
    this.#framing = framingOf(head);
    this.events.onHead(head);
    if (this.#framing.kind === 'none' || (this.#framing.kind === 'length' && this.#framing.left === 0)) this.#finish();
    return rest;
  }

  #takeBody(bytes: Buffer): Buffer {
    const framing = this.#framing as Framing;
    if (framing.kind === 'close') {
      this.events.onBody(bytes);
      return Buffer.alloc(0);
    }
    if (framing.kind === 'length') {
      const n = Math.min(framing.left, bytes.length);
      framing.left -= n;
      this.events.onBody(bytes.subarray(0, n));
      if (framing.left === 0) this.#finish(); // anything after the body is ignored: the connection is closed
      return bytes.subarray(n);
    }
    return this.#takeChunked(bytes);
  }

  #takeChunked(bytes: Buffer): Buffer {
    let at = 0;
    while (at < bytes.length && !this.#done) {
      if (this.#chunk === 'data') {
        const n = Math.min(this.#chunkLeft, bytes.length - at);
        this.events.onBody(bytes.subarray(at, at + n));
        at += n;
        this.#chunkLeft -= n;
        if (this.#chunkLeft === 0) this.#chunk = 'data-end';
        continue;
      }
      // A line: the chunk size, the CRLF after a chunk's data, or a trailer field.
      const lf = bytes.indexOf(0x0a, at);
      const piece = bytes.toString('latin1', at, lf < 0 ? bytes.length : lf + 1);
      at = lf < 0 ? bytes.length : lf + 1;
      this.#line += piece;
      if (this.#chunk === 'trailer') this.#trailerBytes += piece.length;
      if (this.#line.length > MAX_LINE_BYTES || this.#trailerBytes > MAX_TRAILER_BYTES) throw new HttpWireError('the server sent an overlong line in a chunked body');
      if (lf < 0) break;
      const line = this.#line;
      this.#line = '';
      if (!line.endsWith('\r\n')) throw new HttpWireError('the server sent a chunked body with a bare LF');
      const text = line.slice(0, -2);
      if (this.#chunk === 'data-end') {
        if (text !== '') throw new HttpWireError('the server sent more data than the chunk size said');
        this.#chunk = 'size';
      } else if (this.#chunk === 'size') {
        const size = /^([0-9a-fA-F]{1,12})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/.exec(text);
        if (!size) throw new HttpWireError(`the server sent an invalid chunk size: ${JSON.stringify(text.slice(0, 40))}`);
        this.#chunkLeft = Number.parseInt(size[1] as string, 16);
        this.#chunk = this.#chunkLeft === 0 ? 'trailer' : 'data';
      } else if (text === '') this.#finish(); // the blank line after the trailer fields
    }
    return bytes.subarray(at);
  }
}
