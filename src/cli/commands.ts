// The list of subcommands, in the order `abupdate --help` shows them: name and summary here, the command itself
// (usage, options, run) in its own file, imported only when that command runs or shows its --help.
//
// Why: `abupdate --version`, `--help` and `status` start within a few milliseconds of bare node only when they do
// not load every command's modules (got, execa, the D-Bus and etcd clients, the bundle writer) first.
// A new command: its file exports a Command; add one line here (`lazy(NAME, SUMMARY, () => import(FILE)...)`).
// src/cli/commands.test.ts checks that every line loads a command of that name and summary.

import { UpdaterError } from '../../common/errors.js';
import type { Command } from './command.js';

export interface CommandEntry {
  /** One or two words, as in the Command: `slots`, `bundle create`. */
  name: string;
  /** One line for `abupdate --help`: the Command's own summary. */
  summary: string;
  /** Imports the command's file and returns its Command. */
  load(): Promise<Command>;
}

/** An entry whose command is NAME in what LOAD returns (one Command, or a file's list of them). */
function lazy(name: string, summary: string, load: () => Promise<Command | Command[]>): CommandEntry {
  return {
    name,
    summary,
    async load() {
      const loaded = await load();
      const command = Array.isArray(loaded) ? loaded.find((c) => c.name === name) : loaded;
      if (command?.name !== name) throw new UpdaterError('ERR_INTERNAL', `Cannot load the command "${name}": its file does not define it`);
      return command;
    },
  };
}

export const COMMANDS: CommandEntry[] = [
  lazy('status', 'booted slot, slot table, engine state, progress, last error', async () => (await import('./status-command.js')).statusCommand),
  lazy('slots', 'the A/B slot table: flags, state, booted and next slot', async () => (await import('./slots-command.js')).slotsCommand),
  lazy('mark-good', 'commit a slot (default: the booted one): good, first, no more tries', async () => (await import('./mark-commands.js')).markGoodCommand),
  lazy('mark-bad', 'mark a slot (default: the booted one) bad: never booted until re-activated', async () => (await import('./mark-commands.js')).markBadCommand),
  lazy('mark-active', 'boot a slot next with N tries; the other slot stays the fallback', async () => (await import('./mark-commands.js')).markActiveCommand),
  lazy('install', 'install a bundle (path or URL) into the passive slot', async () => (await import('./install-command.js')).installCommand),
  lazy('post-boot', 'after a reboot: run the health checks, then commit the booted slot or roll back', async () => (await import('./lifecycle-commands.js')).postBootCommand),
  lazy('rollback', 'manual rollback: boot the other slot next, if it holds a committed image', async () => (await import('./lifecycle-commands.js')).rollbackCommand),
  lazy('clear-bad', 'allow a version that failed on this host to be installed again', async () => (await import('./lifecycle-commands.js')).clearBadCommand),
  lazy('check', 'ask the update server whether an update is available', async () => (await import('./update-commands.js')).checkCommand),
  lazy('update', 'check and install an available update now', async () => (await import('./update-commands.js')).updateCommand),
  lazy('daemon', 'the on-host service: check on a schedule, install, report, reboot per strategy', async () => (await import('./daemon-command.js')).daemonCommand),
  lazy('config', 'print the effective update.conf and where each value came from', async () => (await import('./config-command.js')).configCommand),
  lazy('keygen', 'make an Ed25519 signing key pair (PREFIX.key, PREFIX.pub)', async () => (await import('./keygen-command.js')).keygenCommand),
  lazy('bundle create', 'build a signed bundle from a root image', async () => (await import('./bundle-create-command.js')).bundleCreateCommand),
  lazy('bundle info', 'print a bundle and verify its signature, chunks and policy', async () => (await import('./bundle-info-command.js')).bundleInfoCommand),
  lazy('bundle diff', 'print what a host holding OLD downloads to install bundle NEW', async () => (await import('./bundle-diff-command.js')).bundleDiffCommand),
  lazy('bundle index', 'write and sign a static channel index (stable.json + .sig) naming a bundle', async () => (await import('./bundle-index-command.js')).bundleIndexCommand),
  ...[
    ['reboot-lock status', 'show the fleet reboot lock in etcd: max, free slots and holders'],
    ['reboot-lock lock', 'take a slot of the reboot lock for this host (or --id ID)'],
    ['reboot-lock unlock', 'release the reboot lock slot held by this host or by ID (frees a holder that never came back)'],
    ['reboot-lock set-max', 'set how many hosts may hold the reboot lock at once'],
    ['reboot-lock reboot', 'take the reboot lock for this host, then reboot it (locksmithctl reboot)'],
    ['reboot-lock send-need-reboot', 'emit update_engine\'s "need reboot" D-Bus signal, to test locksmithd or other listeners'],
  ].map(([name = '', summary = '']) => lazy(name, summary, async () => (await import('./reboot-lock-command.js')).REBOOT_LOCK_COMMANDS)),
  ...[
    ['fleet status', 'the fleet in etcd: hosts per version and state, group switches, then one row per host'],
    ['fleet hosts', 'every reporting host with both slots, error, bad versions and reboot-lock holding'],
    ['fleet history', 'per version: how many hosts were offered, installed, committed and rolled it back, and when'],
    ['fleet pause', "pause a group's rollout: its hosts check for updates but do not install"],
    ['fleet resume', "resume a paused group's rollout"],
    ['fleet gate', 'stop a version for a group once N of its hosts rolled it back'],
    ['fleet serve', 'serve the fleet dashboard: one page, a JSON API and live updates from etcd watches'],
  ].map(([name = '', summary = '']) => lazy(name, summary, async () => (await import('./fleet-command.js')).FLEET_COMMANDS)),
];
