// Keeps the install's memory flat: streamed network buffers die young but are off the JS heap, so V8 lets up to
// ~64 MiB of them pile up before it collects. A cheap young-generation GC every few MiB frees them early.
// (Node allows this without --expose-gc through v8.setFlagsFromString; without it the pacer does nothing.)

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

/**
 * Returns `count(bytes)`: after every `minorBytes` bytes it runs a minor GC, after every `majorBytes` a full one
 * (the minor ones promote whatever is in flight, and that garbage would otherwise grow the old generation).
 */
export function createGcPacer(minorBytes = 2 * 1024 * 1024, majorBytes = 128 * 1024 * 1024): (bytes: number) => void {
  const collect = loadGc();
  let minor = 0;
  let major = 0;
  return (bytes) => {
    if (!collect) return;
    minor += bytes;
    major += bytes;
    if (major >= majorBytes) {
      major = 0;
      minor = 0;
      collect(); // a full GC: Node 20's gc({ type: 'major' }) runs only a young-generation one (measured)
    } else if (minor >= minorBytes) {
      minor = 0;
      collect({ type: 'minor' });
    }
  };
}
