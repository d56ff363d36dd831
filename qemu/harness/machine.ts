// A guest machine that outlives reboots: its own disk copy and firmware variables, booted again and again by the harness.

import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { cacheRoot } from '../guest/cache.js';
import type { Guest } from '../guest/build-guest.js';
import { partitionOf, type DiskLayout } from '../guest/disk.js';
import { runTool } from '../guest/run-tool.js';
import { OVMF_VARS, Vm, type VmConfig } from './vm.js';

/** grubenv: OVMF -> GRUB + partition/grub/abupdate-ab.cfg decides. gptprio: the initramfs applies gptprio.next with cgpt. */
export type BootPath = 'grubenv' | 'gptprio';

export interface MachineOptions {
  guest: Guest;
  /** A directory for this machine's disk and firmware variables (e.g. makeTempDir(t)). */
  dir: string;
  /** Names the machine in printed lines and its log directory. */
  name: string;
  bootPath: BootPath;
  /**
   * gptprio boots without firmware by default (SeaBIOS + -kernel, faster) or through OVMF + GRUB (which then
   * boots the one kernel without choosing); grubenv always goes through OVMF + GRUB.
   */
  firmware?: 'ovmf' | 'direct';
  serverPort?: number;
  /** More host services for the guest: 10.0.2.100:GUEST_PORT reaches 127.0.0.1:HOST_PORT (e.g. etcd). */
  forwards?: { guestPort: number; hostPort: number }[];
  memoryMiB?: number;
  /** Where "what booted" lines go (default stderr). */
  print?: (line: string) => void;
}

export interface BootRecord {
  n: number;
  /** From the guest's "booted=" marker; undefined when no slot came up. */
  slot: string | undefined;
  version: string | undefined;
  state: string | undefined;
  /** How the run ended: the guest powered off or rebooted, the kernel panicked, the harness cut power, ... */
  end: 'poweroff' | 'reboot' | 'panic' | 'no-bootable-slot' | 'power-cut' | 'exit';
  seconds: number;
  /** Seconds from qemu start to the "booted=" marker. */
  bootSeconds: number | undefined;
}

// no_timer_check: under software emulation on a loaded host the kernel's IO-APIC timer check can fail and panic
// ("IO-APIC + timer doesn't work") before any of our code runs; the check proves nothing about abupdate.
export const KERNEL_CMDLINE = 'console=ttyS0 panic=1 loglevel=4 no_timer_check';

export class Machine {
  readonly options: MachineOptions;
  readonly disk: string;
  readonly vars: string;
  readonly logDir: string;
  readonly history: BootRecord[] = [];
  readonly vms: Vm[] = [];

  private constructor(options: MachineOptions) {
    this.options = options;
    this.disk = path.join(options.dir, 'disk.img');
    this.vars = path.join(options.dir, 'OVMF_VARS.fd');
    this.logDir = path.join(cacheRoot(), 'logs', options.name.replace(/[^A-Za-z0-9._-]/g, '_'));
  }

  /** Copies the guest's disk (sparse) and a fresh OVMF variable store into options.dir. */
  static async create(options: MachineOptions): Promise<Machine> {
    if (options.bootPath === 'grubenv' && options.firmware === 'direct') {
      throw new UpdaterError('ERR_USAGE', 'Cannot create a grubenv machine without firmware: GRUB must choose the slot');
    }
    const machine = new Machine(options);
    await mkdir(options.dir, { recursive: true });
    await runTool('cp', ['--sparse=always', options.guest.disk, machine.disk]);
    await copyFile(OVMF_VARS, machine.vars);
    if (options.bootPath === 'gptprio' && machine.firmware === 'ovmf') {
      // grub.cfg on the ESP boots straight into the initramfs's gptprio selector when this file exists.
      const flag = path.join(options.dir, 'gptprio');
      await writeFile(flag, 'gptprio\n');
      await runTool('mcopy', ['-o', '-i', `${machine.disk}@@${partitionOf(options.guest.layout, 'ESP').offset}`, flag, '::/grub/gptprio']);
    }
    await rm(machine.logDir, { recursive: true, force: true });
    await mkdir(machine.logDir, { recursive: true });
    return machine;
  }

  get layout(): DiskLayout {
    return this.options.guest.layout;
  }

  get firmware(): 'ovmf' | 'direct' {
    return this.options.firmware ?? (this.options.bootPath === 'gptprio' ? 'direct' : 'ovmf');
  }

  /**
   * Starts qemu; RUN (a shell script) is what the slot's init runs this boot (via fw_cfg). CMDLINE: more kernel
   * command-line words for this boot, after the harness's own (direct firmware only: with OVMF, GRUB writes it).
   */
  async start(options: { run?: string; cmdline?: string } = {}): Promise<Vm> {
    const n = this.vms.length + 1;
    if (options.cmdline !== undefined && this.firmware !== 'direct') {
      throw new UpdaterError('ERR_USAGE', 'Cannot add kernel command-line words to an OVMF boot: GRUB writes that command line');
    }
    const extra = options.cmdline === undefined ? '' : ` ${options.cmdline}`;
    const fwCfg: Record<string, string> = {};
    if (options.run !== undefined) {
      const script = path.join(this.options.dir, `run-${n}.sh`);
      await writeFile(script, options.run);
      fwCfg['opt/abupdate/run'] = script;
    }
    const base = this.options.guest.base;
    const config: VmConfig = {
      disk: this.disk,
      firmware:
        this.firmware === 'ovmf'
          ? { kind: 'ovmf', vars: this.vars }
          : { kind: 'direct', kernel: base.kernel, initrd: base.initrd, append: `${KERNEL_CMDLINE} abupdate.boot=gptprio${extra}` },
      fwCfg,
      logFile: path.join(this.logDir, `boot-${n}.log`),
      ...(this.options.serverPort === undefined ? {} : { serverPort: this.options.serverPort }),
      ...(this.options.forwards === undefined ? {} : { forwards: this.options.forwards }),
      ...(this.options.memoryMiB === undefined ? {} : { memoryMiB: this.options.memoryMiB }),
    };
    const vm = Vm.start(config);
    this.vms.push(vm);
    return vm;
  }

  /** Boots once and waits until the guest halts (poweroff, reboot, panic); returns and prints what booted. */
  async boot(options: { run?: string; cmdline?: string; timeoutMs?: number } = {}): Promise<BootRecord> {
    const vm = await this.start(options);
    await vm.waitForExit(options.timeoutMs ?? 180_000);
    return this.recordBoot(vm);
  }

  /** Cuts the power of VM and records the boot. */
  async powerCut(vm: Vm): Promise<BootRecord> {
    await vm.powerCut();
    return this.recordBoot(vm, 'power-cut');
  }

  /** Summarises a finished run of VM, adds it to history and prints one line. */
  recordBoot(vm: Vm, forcedEnd?: BootRecord['end']): BootRecord {
    const booted = vm.markers.find((m) => m.fields['booted'] !== undefined);
    const halt = [...vm.markers].reverse().find((m) => m.fields['halt'] !== undefined)?.fields['halt'];
    let end: BootRecord['end'] = 'exit';
    if (forcedEnd) end = forcedEnd;
    else if (halt === 'poweroff' || halt === 'reboot') end = halt;
    else if (vm.markers.some((m) => m.fields['error'] === 'no-bootable-slot')) end = 'no-bootable-slot';
    else if (/Kernel panic/.test(vm.serial)) end = 'panic';
    const record: BootRecord = {
      n: this.history.length + 1,
      slot: booted?.fields['booted'],
      version: booted?.fields['version'],
      state: booted?.fields['state'],
      end,
      seconds: Math.round((vm.exit?.ms ?? performance.now() - vm.startedAt) / 100) / 10,
      bootSeconds: booted === undefined ? undefined : Math.round(booted.atMs / 100) / 10,
    };
    this.history.push(record);
    const print = this.options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
    print(
      `[${this.options.name}] boot ${record.n} (${this.options.bootPath}/${this.firmware}): ` +
        `slot=${record.slot ?? '-'} version=${record.version ?? '-'} state=${record.state ?? '-'} ` +
        `end=${record.end} booted-after=${record.bootSeconds ?? '-'}s total=${record.seconds}s`,
    );
    return record;
  }

  /** Every run's serial log, headed by its qemu command line. */
  serialLogs(): string {
    return this.vms.map((vm, i) => `===== ${this.options.name} boot ${i + 1}: qemu-system-x86_64 ${vm.args.join(' ')}\n${vm.serial}`).join('\n');
  }

  /** Runs FN; if it throws, prints every serial log (also kept in logDir, with the disk) and rethrows. Stops running VMs. */
  async run<T>(fn: (machine: Machine) => Promise<T>): Promise<T> {
    try {
      return await fn(this);
    } catch (error) {
      for (const vm of this.vms) await vm.dispose();
      // Keep the disk as it was when the test failed (sparse copy), next to the serial logs.
      const kept = await runTool('cp', ['--sparse=always', this.disk, path.join(this.logDir, 'disk.img')]).then(
        () => ` and the disk in ${path.join(this.logDir, 'disk.img')}`,
        () => '',
      );
      process.stderr.write(`${this.serialLogs()}\n===== serial logs kept in ${this.logDir}${kept}\n`);
      throw error;
    } finally {
      for (const vm of this.vms) await vm.dispose();
    }
  }
}
