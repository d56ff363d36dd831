// A static file server on 127.0.0.1 (port 0) with Range support: the demo's update server. Any static server does,
// because the engine fetches a bundle with Range requests. The test server (fixtures/http-server.ts) builds on parseRange.

import http from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

/** The byte range a `Range: bytes=A-B` header asks for in a file of SIZE bytes; 'bad' when it cannot be served (416). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'bad' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return 'bad';
  const [, a = '', b = ''] = match;
  if (a === '' && b === '') return 'bad';
  if (a === '') return { start: Math.max(0, size - Number(b)), end: size - 1 };
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'bad';
  return { start, end };
}

export interface BundleServer {
  url(name: string): string;
  close(): Promise<void>;
}

/** Serves `files` (URL name → path on disk) until close(). */
export async function startBundleServer(files: Record<string, string>): Promise<BundleServer> {
  const server = http.createServer((req, res) => {
    void serve(req, res).catch(() => res.destroy());
  });
  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const file = files[decodeURIComponent((req.url ?? '/').replace(/^\/+/, '').split('?')[0] ?? '')];
    const info = file === undefined ? undefined : await stat(file).catch(() => undefined);
    if (file === undefined || !info) {
      res.writeHead(404, { 'content-length': '0' }).end();
      return;
    }
    const range = parseRange(req.headers.range, info.size);
    if (range === 'bad') {
      res.writeHead(416, { 'content-range': `bytes */${info.size}`, 'content-length': '0' }).end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? info.size - 1;
    res.writeHead(range ? 206 : 200, {
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${info.size}` } : {}),
    });
    if (req.method === 'HEAD' || info.size === 0) {
      res.end();
      return;
    }
    createReadStream(file, { start, end }).pipe(res);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
