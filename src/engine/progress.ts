// Install progress for people and programs: a bar on a TTY, periodic log lines otherwise, JSON lines with --json.

/**
 * check: the bundle's head; recheck: a resumed install re-hashes the chunks an earlier run wrote; scan: a delta install
 * chunks a slot (read-only) to find the chunks the host has; then download, readback, flip.
 */
export type ProgressPhase = 'check' | 'recheck' | 'scan' | 'download' | 'readback' | 'flip';

export type ProgressEvent =
  | { event: 'phase'; phase: ProgressPhase; total: number; done: number }
  | { event: 'progress'; phase: ProgressPhase; done: number; total: number; bytesPerSecond: number; etaSeconds: number | null }
  | { event: 'message'; text: string };

export interface ProgressReporter {
  /** A new phase starts; `done` bytes of `total` are already there (a resumed install). */
  phase(phase: ProgressPhase, total: number, done?: number): void;
  /** `done` bytes of the current phase's total are finished. */
  update(done: number): void;
  message(text: string): void;
  /** Draws the final state of the phase and ends the bar's line. */
  finish(): void;
}

export interface ProgressOptions {
  mode: 'bar' | 'lines' | 'json' | 'quiet';
  /** Where the bar and log lines go (stderr); JSON events go to `out`. */
  err: NodeJS.WritableStream;
  out: NodeJS.WritableStream;
  /** Milliseconds between bar redraws (default 100), log lines (default 5000), JSON events (default 500). */
  intervalMs?: number;
  now?: () => number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

const LABELS: Record<ProgressPhase, string> = {
  check: 'checking',
  recheck: 'rechecking',
  scan: 'scanning',
  download: 'downloading',
  readback: 'verifying',
  flip: 'switching',
};

/** Picks the mode from the flags and the terminal: --json → JSON lines, a TTY stderr → bar, else log lines. */
export function progressMode(json: boolean, err: { isTTY?: boolean }, quiet = false): ProgressOptions['mode'] {
  if (quiet) return 'quiet';
  if (json) return 'json';
  return err.isTTY === true ? 'bar' : 'lines';
}

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? (options.mode === 'bar' ? 100 : options.mode === 'json' ? 500 : 5000);
  let phase: ProgressPhase = 'check';
  let total = 0;
  let done = 0;
  let lastEmit = -Infinity;
  let barOpen = false;
  // A window of recent samples gives a rate that follows the network, not the average since the start.
  let samples: Array<{ t: number; done: number }> = [];

  function rate(): number {
    const first = samples[0];
    const last = samples.at(-1);
    if (!first || !last || last.t <= first.t) return 0;
    return ((last.done - first.done) * 1000) / (last.t - first.t);
  }

  function snapshot(): Extract<ProgressEvent, { event: 'progress' }> {
    const bytesPerSecond = Math.round(rate());
    const etaSeconds = bytesPerSecond > 0 ? Math.ceil((total - done) / bytesPerSecond) : null;
    return { event: 'progress', phase, done, total, bytesPerSecond, etaSeconds };
  }

  function render(): void {
    const p = snapshot();
    const pct = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 100;
    const speed = p.bytesPerSecond > 0 ? `${formatBytes(p.bytesPerSecond)}/s` : '';
    const eta = p.etaSeconds === null ? '' : `ETA ${formatDuration(p.etaSeconds)}`;
    const figures = `${String(pct).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)}`;
    if (options.mode === 'json') {
      options.out.write(`${JSON.stringify(p)}\n`);
    } else if (options.mode === 'bar') {
      const width = 24;
      const filled = Math.round((pct / 100) * width);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
      options.err.write(`\r\x1b[K${LABELS[phase].padEnd(11)} ${bar} ${figures}  ${speed}  ${eta}`.trimEnd());
      barOpen = true;
    } else if (options.mode === 'lines') {
      options.err.write(`${LABELS[phase]}: ${figures}${speed ? `, ${speed}` : ''}${eta ? `, ${eta}` : ''}\n`);
    }
  }

  function endBar(): void {
    if (barOpen) options.err.write('\n');
    barOpen = false;
  }

  return {
    phase(next, nextTotal, already = 0) {
      endBar();
      phase = next;
      total = nextTotal;
      done = already;
      samples = [{ t: now(), done }];
      lastEmit = now();
      if (options.mode === 'json') options.out.write(`${JSON.stringify({ event: 'phase', phase, total, done })}\n`);
      else if (options.mode !== 'quiet' && total > 0) render();
    },
    update(value) {
      done = value;
      const t = now();
      samples.push({ t, done });
      while (samples.length > 2 && (samples[0]?.t ?? t) < t - 5000) samples.shift();
      if (t - lastEmit >= interval) {
        lastEmit = t;
        render();
      }
    },
    message(text) {
      if (options.mode === 'quiet') return;
      if (options.mode === 'json') {
        options.out.write(`${JSON.stringify({ event: 'message', text })}\n`);
        return;
      }
      endBar();
      options.err.write(`${text}\n`);
    },
    finish() {
      if (options.mode !== 'quiet' && total > 0) render();
      endBar();
      lastEmit = now();
    },
  };
}
