// One run of qemu-system-x86_64 on a guest disk: serial console capture, marker waits, exit, power cut.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { once } from 'node:events';
import { UpdaterError } from '../../common/errors.js';
import { guestfwdOption } from './guestfwd.js';
import { LineSplitter, markerMatches, parseMarkerLine, type Marker, type MarkerQuery } from './markers.js';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface VmConfig {
  disk: string;
  /** OVMF firmware (with this VM's copy of the variable store), or SeaBIOS + -kernel/-initrd/-append. */
  firmware: { kind: 'ovmf'; vars: string } | { kind: 'direct'; kernel: string; initrd: string; append: string };
  memoryMiB?: number;
  /** fw_cfg blobs: name (e.g. "opt/abupdate/run") -> host file. */
  fwCfg?: Record<string, string>;
  /** The guest's 10.0.2.100:8080 reaches this port on the host's 127.0.0.1. */
  serverPort?: number;
  /** More forwards: the guest's 10.0.2.100:GUEST_PORT reaches HOST_PORT on the host's 127.0.0.1 (e.g. etcd on 2379). */
  forwards?: { guestPort: number; hostPort: number }[];
  /** Where the serial log is appended as it arrives. */
  logFile?: string;
}

export interface VmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from start to exit. */
  ms: number;
}

/** The qemu command line for CONFIG (exported so a failing test can print it). */
export function qemuArgs(config: VmConfig): string[] {
  const args = ['-accel', 'tcg', '-cpu', 'max', '-m', String(config.memoryMiB ?? 1024), '-smp', '1'];
  args.push('-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-nodefaults');
  if (config.firmware.kind === 'ovmf') {
    args.push('-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`);
    args.push('-drive', `if=pflash,format=raw,file=${config.firmware.vars}`);
  } else {
    args.push('-kernel', config.firmware.kernel, '-initrd', config.firmware.initrd, '-append', config.firmware.append);
  }
  args.push('-drive', `file=${config.disk},format=raw,if=virtio`);
  const forwards = [...(config.serverPort === undefined ? [] : [{ guestPort: 8080, hostPort: config.serverPort }]), ...(config.forwards ?? [])];
  const fwd = forwards.map((f) => guestfwdOption(f.guestPort, f.hostPort)).join('');
  args.push('-netdev', `user,id=n0,restrict=on${fwd}`, '-device', 'virtio-net-pci,netdev=n0,romfile=');
  for (const [name, file] of Object.entries(config.fwCfg ?? {})) args.push('-fw_cfg', `name=${name},file=${file}`);
  return args;
}

interface Waiter {
  query: MarkerQuery;
  resolve: (marker: Marker) => void;
}

/** A running (or finished) qemu. Create with Vm.start(). */
export class Vm {
  readonly args: string[];
  readonly startedAt = performance.now();
  /** Everything the guest printed on ttyS0 (and qemu on stderr), as received. */
  serial = '';
  readonly markers: Marker[] = [];
  exit: VmExit | undefined;
  private readonly child: ChildProcess;
  private readonly exited: Promise<VmExit>;
  private waiters: Waiter[] = [];
  private readonly logFile: string | undefined;

  private constructor(config: VmConfig) {
    this.args = qemuArgs(config);
    this.logFile = config.logFile;
    this.child = spawn('qemu-system-x86_64', this.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = new LineSplitter();
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('latin1');
      this.serial += text;
      if (this.logFile !== undefined) appendFileSync(this.logFile, text);
      for (const line of lines.push(text)) this.onLine(line);
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', (error) =>
        reject(
          new UpdaterError('ERR_TOOL_FAILED', `Cannot start qemu-system-x86_64: ${error.message}`, {
            cause: error,
            hint: 'Install it: apt-get install -y qemu-system-x86 ovmf',
          }),
        ),
      );
      this.child.once('close', (code, signal) => {
        for (const line of lines.flush()) this.onLine(line);
        this.exit = { code, signal, ms: performance.now() - this.startedAt };
        resolve(this.exit);
      });
    });
    this.exited.catch(() => undefined);
  }

  static start(config: VmConfig): Vm {
    return new Vm(config);
  }

  private onLine(line: string): void {
    const marker = parseMarkerLine(line, performance.now() - this.startedAt);
    if (marker === undefined) return;
    this.markers.push(marker);
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (markerMatches(marker, waiter.query)) waiter.resolve(marker);
      else still.push(waiter);
    }
    this.waiters = still;
  }

  /** The first marker (already seen or still to come) matching QUERY; ERR_TIMEOUT or ERR_TOOL_FAILED if qemu exits first. */
  async waitForMarker(query: MarkerQuery, timeoutMs: number): Promise<Marker> {
    const seen = this.markers.find((m) => markerMatches(m, query));
    if (seen) return seen;
    const describe = JSON.stringify(Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])));
    if (this.exit) {
      throw new UpdaterError('ERR_TOOL_FAILED', `Cannot see marker ${describe}: qemu exited (code ${String(this.exit.code)}) before the guest printed it`);
    }
    let timer: NodeJS.Timeout | undefined;
    let waiter: Waiter | undefined;
    try {
      return await Promise.race([
        new Promise<Marker>((resolve) => {
          waiter = { query, resolve };
          this.waiters.push(waiter);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new UpdaterError('ERR_TIMEOUT', `Cannot see marker ${describe}: not printed within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
        this.exited.then((exit) => {
          const late = this.markers.find((m) => markerMatches(m, query));
          if (late) return late;
          throw new UpdaterError('ERR_TOOL_FAILED', `Cannot see marker ${describe}: qemu exited (code ${String(exit.code)}) before the guest printed it`);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.waiters = this.waiters.filter((w) => w !== waiter);
    }
  }

  /** Waits until qemu exits (guest poweroff or, with -no-reboot, reboot); kills it after TIMEOUT_MS and throws ERR_TIMEOUT. */
  async waitForExit(timeoutMs: number): Promise<VmExit> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            this.child.kill('SIGKILL');
            reject(new UpdaterError('ERR_TIMEOUT', `Cannot wait for the guest to halt: still running after ${timeoutMs} ms (killed)`));
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Pulls the plug: SIGKILL to qemu, no flush, no shutdown; resolves when the process is gone. */
  async powerCut(): Promise<VmExit> {
    if (this.exit) return this.exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Stops a VM a test no longer needs (same as powerCut, never throws). */
  async dispose(): Promise<void> {
    if (this.exit === undefined && this.child.exitCode === null) {
      this.child.kill('SIGKILL');
      await once(this.child, 'close').catch(() => undefined);
    }
  }
}
