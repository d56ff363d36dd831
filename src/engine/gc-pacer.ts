// Keeps the install's memory flat: streamed network buffers die young but are off the JS heap, so V8 lets up to
// ~64 MiB of them pile up before it collects. A cheap young-generation GC every few MiB frees them early.

import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options?: { type?: 'minor' | 'major' }) => void;

let gc: Gc | null | undefined;

function loadGc(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    const exposed = (globalThis as { gc?: Gc }).gc;
    if (typeof exposed === 'function') return (gc = exposed);
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as Gc;
  } catch {
    gc = null;
  }
  return gc;
}

/** Returns `count(bytes)`: after every `everyBytes` bytes it runs a minor GC (when the runtime allows one). */
export function createGcPacer(everyBytes = 2 * 1024 * 1024): (bytes: number) => void {
  const collect = loadGc();
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes || !collect) return;
    since = 0;
    collect({ type: 'minor' });
  };
}
