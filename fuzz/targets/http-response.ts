// Fuzz target: the download's HTTP/1.1 response parser (src/download/http-wire.ts), fed what a hostile server sends.
// The first byte picks how the rest is cut into socket reads; the outcome (head, body bytes, complete or not, the
// refusal) must be the same as when the whole arrives in one read, and a refusal is only ever an HttpWireError.

import { createHash } from 'node:crypto';
import { UpdaterError } from '../../common/errors.js';
import { HttpWireError, ResponseParser } from '../../src/download/http-wire.js';
import { ContractBreach, expect, withinContract, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: ['ERR_NETWORK'],
  maxLen: 80 * 1024,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: true,
};

interface Outcome {
  head: string | undefined;
  body: string;
  bodyBytes: number;
  done: boolean;
  error: string | undefined;
}

/** Parses BYTES delivered as the reads CUT gives (sizes), then the connection's close. */
function parse(bytes: Buffer, cut: () => number): Outcome {
  let head: string | undefined;
  const body = createHash('sha256');
  let bodyBytes = 0;
  let ends = 0;
  const parser = new ResponseParser({
    onHead: (h) => {
      expect(head === undefined, 'a second head after the final one');
      head = JSON.stringify(h);
    },
    onBody: (b) => {
      expect(head !== undefined, 'body bytes before the head');
      body.update(b);
      bodyBytes += b.length;
    },
    onEnd: () => void (ends += 1),
  });
  let error: string | undefined;
  try {
    // A read buffer reused as the socket's is: what the parser keeps of one read must not change with the next.
    const read = Buffer.alloc(bytes.length);
    for (let at = 0; at < bytes.length && !parser.done; ) {
      const n = Math.min(cut(), bytes.length - at);
      bytes.copy(read, 0, at, at + n);
      read.fill(0xa5, n);
      parser.push(read.subarray(0, n));
      at += n;
    }
    parser.close();
  } catch (caught) {
    if (!(caught instanceof HttpWireError)) throw caught;
    error = caught.message;
  }
  expect(ends <= 1 && (ends === 1) === parser.done, `onEnd called ${ends} times, done is ${parser.done}`);
  return { head, body: body.digest('hex'), bodyBytes, done: parser.done, error };
}

export function fuzz(data: Buffer): void {
  if (data.length < 1) return;
  const bytes = data.subarray(1);
  let seed = (data[0] as number) + 1;
  const max = 1 + ((data[0] as number) % 40);
  // A small LCG: read sizes from 1 to `max` bytes, the same for every run of this input.
  const cut = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return 1 + (seed % max);
  };
  withinContract(contract.codes, () => {
    let whole: Outcome;
    let pieces: Outcome;
    try {
      whole = parse(bytes, () => bytes.length);
      pieces = parse(bytes, cut);
    } catch (error) {
      if (error instanceof ContractBreach) throw error;
      throw new ContractBreach(`not an HttpWireError: ${(error as Error).name}: ${(error as Error).message}`, { cause: error });
    }
    expect(JSON.stringify(whole) === JSON.stringify(pieces), `the outcome depends on how the bytes are cut into reads:\n${JSON.stringify(whole)}\n${JSON.stringify(pieces)}`);
    if (whole.error !== undefined) throw new UpdaterError('ERR_NETWORK', whole.error);
  });
}
