// What a byte source is (a bundle file or URL read from any offset) and the events an HTTP source reports.

import type { UpdaterError } from '../../common/errors.js';

export interface ByteSource {
  /** The path or URL, for messages. */
  readonly name: string;
  /** Bytes from `start` (inclusive) to `end` (exclusive; default: to the end of the source), in order. */
  read(start: number, end?: number): AsyncIterable<Buffer>;
  /** Bytes received from the origin so far (HTTP: including bytes skipped because Range was ignored). */
  bytesReceived(): number;
  /** Lets go of what a read left open for the next one (a server that ignores Range: its one 200 stream). */
  close(): void;
  /** HTTP: the server answered a Range request with the whole file (200) at least once. A file: never. */
  ignoresRange?(): boolean;
}

export type SourceEvent =
  | { type: 'request'; start: number; end: number | undefined; attempt: number }
  | { type: 'retry'; attempt: number; delayMs: number; position: number; error: UpdaterError }
  | { type: 'range-ignored'; skip: number };
