// The node_exporter textfile (METRICS_TEXTFILE): replaced atomically, so the collector never reads half a file.

import { stat } from 'node:fs/promises';
import { replaceFileDurably } from '../../common/file-system.js';
import path from 'node:path';

/**
 * Writes `text` to `file` through a temporary file in the same directory and a rename. Returns false (and writes
 * nothing) when the directory does not exist: node_exporter's textfile collector is not set up on this host.
 */
export async function writeMetricsTextfile(file: string, text: string): Promise<boolean> {
  const dir = path.dirname(file);
  const exists = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!exists) return false;
  // node_exporter reads only *.prom: the temporary name (.NAME.PID.tmp) does not end so.
  await replaceFileDurably(file, text);
  return true;
}
