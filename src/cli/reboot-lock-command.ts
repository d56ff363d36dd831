// `abupdate reboot-lock status|lock|unlock|set-max|reboot|send-need-reboot`: inspect and fix the fleet reboot lock in
// etcd, with locksmithctl's verbs and flags.

import { execa } from 'execa';
import { UpdaterError } from '../../common/errors.js';
import { openEtcdStore } from '../reboot/etcd-store.js';
import { DEFAULT_MACHINE_ID_PATH, readMachineId } from '../reboot/reboot-config.js';
import { lockSemaphore, readSemaphore, semaphoreKey, setSemaphoreMax, unlockSemaphore, type Semaphore, type SemaphoreTarget } from '../reboot/etcd-semaphore.js';
import { stringOption, report, type Command, type CommandContext } from './command.js';
import { ETCD_API_OPTION, ETCD_CONNECTION_OPTIONS, etcdConnectionFromOptions } from './etcd-options.js';
import type { OptionTable } from './options.js';

const DEFAULT_MACHINE_ID_FILE = DEFAULT_MACHINE_ID_PATH;

/** The options of every reboot-lock subcommand. */
const LOCK_OPTIONS = {
  group: { type: 'string', value: 'G', help: 'reboot group (default: the ungrouped key, as locksmith)', overrides: 'LOCKSMITHD_GROUP' },
  ...ETCD_CONNECTION_OPTIONS,
  ...ETCD_API_OPTION,
} as const satisfies OptionTable;

/** lock and unlock also name the holder. */
const HOLDER_OPTIONS = {
  ...LOCK_OPTIONS,
  id: { type: 'string', value: 'ID', help: 'holder id (default: the contents of --machine-id-file)' },
  'machine-id-file': { type: 'string', value: 'PATH', help: `where the machine id is read (default: MACHINE_ID_PATH from update.conf, ${DEFAULT_MACHINE_ID_FILE})` },
} as const satisfies OptionTable;

async function target(ctx: CommandContext): Promise<SemaphoreTarget & { endpoints: string[]; api: string }> {
  const connection = await etcdConnectionFromOptions(ctx);
  const client = openEtcdStore(connection, { signal: ctx.signal });
  return { client, group: stringOption(ctx.values, 'group') ?? connection.group, endpoints: connection.endpoints, api: connection.access.api ?? 'v3' };
}

/** The holder id: positional, --id, or the machine id file. */
async function holderId(ctx: CommandContext): Promise<string> {
  const given = ctx.positionals[0] ?? stringOption(ctx.values, 'id');
  if (given !== undefined) {
    if (given.trim() === '') throw new UpdaterError('ERR_USAGE', 'Cannot use the holder id "": it is empty');
    return given.trim();
  }
  const file = stringOption(ctx.values, 'machine-id-file') ?? (await ctx.host()).config.values.MACHINE_ID_PATH ?? DEFAULT_MACHINE_ID_FILE;
  return readMachineId(file);
}

function describe(state: Semaphore): string {
  return `${state.semaphore} of ${state.max} slot(s) free; holders: ${state.holders.length === 0 ? '(none)' : state.holders.join(', ')}`;
}

const statusCommand: Command = {
  name: 'reboot-lock status',
  summary: 'show the fleet reboot lock in etcd: max, free slots and holders',
  usage: 'abupdate reboot-lock status [--group G] [--endpoints URLS] [--json]',
  description: 'Shows the reboot semaphore (created with max 1 if absent).',
  options: LOCK_OPTIONS,
  async run(ctx) {
    const t = await target(ctx);
    const state = await readSemaphore(t);
    const human = [
      `Reboot lock: ${state.key}`,
      `Endpoints:   ${t.endpoints.join(', ')}`,
      `Max:         ${state.max}`,
      `Free:        ${state.semaphore}`,
      `Holders:     ${state.holders.length === 0 ? '(none)' : state.holders.join(', ')}`,
    ].join('\n');
    report(ctx, human, { key: state.key, group: t.group ?? '', endpoints: t.endpoints, api: t.api, semaphore: state.semaphore, max: state.max, holders: state.holders });
    return 0;
  },
};

const lockCommand: Command = {
  name: 'reboot-lock lock',
  summary: 'take a slot of the reboot lock for this host (or --id ID)',
  usage: 'abupdate reboot-lock lock [ID | --id ID] [--group G] [--endpoints URLS] [--json]',
  description: ['Takes a slot of the reboot semaphore for ID; succeeds at once if ID already holds one.', 'Fails (exit 1, ERR_REBOOT_LOCK) when every slot is held.'].join('\n'),
  options: HOLDER_OPTIONS,
  maxPositionals: 1,
  async run(ctx) {
    const t = await target(ctx);
    const id = await holderId(ctx);
    const { state, alreadyHeld } = await lockSemaphore(t, id);
    const human = `${alreadyHeld ? `"${id}" already holds` : `Took`} the reboot lock${alreadyHeld ? '' : ` for "${id}"`} (${describe(state)})`;
    report(ctx, human, { key: semaphoreKeyOf(t), id, alreadyHeld, ...state });
    return 0;
  },
};

const unlockCommand: Command = {
  name: 'reboot-lock unlock',
  summary: 'release the reboot lock slot held by this host or by ID (frees a holder that never came back)',
  usage: 'abupdate reboot-lock unlock [ID | --id ID] [--group G] [--endpoints URLS] [--json]',
  description: [
    'Releases the slot held by ID (default: this machine). Use it to free a host that took the',
    'lock and never came back. Fails (exit 1, ERR_REBOOT_LOCK) when ID holds no slot.',
  ].join('\n'),
  options: HOLDER_OPTIONS,
  maxPositionals: 1,
  async run(ctx) {
    const t = await target(ctx);
    const id = await holderId(ctx);
    const { state, released } = await unlockSemaphore(t, id);
    if (!released) {
      throw new UpdaterError('ERR_REBOOT_LOCK', `Cannot unlock the reboot lock for "${id}": it does not hold it (holders: ${state.holders.length === 0 ? 'none' : state.holders.map((h) => `"${h}"`).join(', ')})`, {
        data: { id, holders: state.holders },
        hint: 'Run "abupdate reboot-lock status" to see the holders.',
      });
    }
    report(ctx, `Released the reboot lock held by "${id}" (${describe(state)})`, { key: semaphoreKeyOf(t), id, released, ...state });
    return 0;
  },
};

const setMaxCommand: Command = {
  name: 'reboot-lock set-max',
  summary: 'set how many hosts may hold the reboot lock at once',
  usage: 'abupdate reboot-lock set-max N [--group G] [--endpoints URLS] [--json]',
  description: [
    'Sets the maximum number of holders; the free count moves by the same amount.',
    'N = 0 stops all lock-coordinated reboots. Refused when more hosts hold the lock than N.',
  ].join('\n'),
  options: LOCK_OPTIONS,
  maxPositionals: 1,
  async run(ctx) {
    const text = ctx.positionals[0];
    if (text === undefined || !/^\d{1,7}$/.test(text)) {
      throw new UpdaterError('ERR_USAGE', `Cannot run "abupdate reboot-lock set-max": ${text === undefined ? 'N is required' : `"${text}" is not a whole number, 0 or more`}`, {
        hint: 'Write e.g. "abupdate reboot-lock set-max 2".',
      });
    }
    const max = Number(text);
    const t = await target(ctx);
    const { state, previousMax } = await setSemaphoreMax(t, max);
    report(ctx, `Reboot lock max set to ${max} (was ${previousMax}): ${describe(state)}`, { key: semaphoreKeyOf(t), previousMax, ...state });
    return 0;
  },
};

const rebootCommand: Command = {
  name: 'reboot-lock reboot',
  summary: 'take the reboot lock for this host, then reboot it (locksmithctl reboot)',
  usage: 'abupdate reboot-lock reboot [--group G] [--endpoints URLS] [--json]',
  description: [
    'Takes a slot of the reboot semaphore for this machine (as "lock"), then runs REBOOT_COMMAND',
    '(default "systemctl reboot"). Fails without rebooting when every slot is held. As with',
    'locksmithctl, the slot stays held after the reboot: "abupdate post-boot" (or "reboot-lock',
    'unlock") gives it back. If the reboot command fails, the slot is released again.',
  ].join('\n'),
  options: HOLDER_OPTIONS,
  async run(ctx) {
    const t = await target(ctx);
    const id = await holderId(ctx);
    const command = (await ctx.host()).config.values.REBOOT_COMMAND;
    const { state, alreadyHeld } = await lockSemaphore(t, id);
    const [file = '', ...args] = command;
    try {
      await execa(file, args, { stdin: 'ignore', timeout: 300_000 });
    } catch (error) {
      if (!alreadyHeld) await unlockSemaphore(t, id).catch(() => undefined);
      throw new UpdaterError('ERR_REBOOT', `Cannot reboot: ${JSON.stringify(command.join(' '))} failed: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}`, {
        cause: error,
        data: { command },
        hint: alreadyHeld ? 'The lock stays held as it was before.' : 'The reboot lock was released again.',
      });
    }
    report(ctx, `Took the reboot lock for "${id}" (${describe(state)}) and ran ${JSON.stringify(command.join(' '))}`, { key: semaphoreKeyOf(t), id, alreadyHeld, rebooting: true, command, ...state });
    return 0;
  },
};

const sendNeedRebootCommand: Command = {
  name: 'reboot-lock send-need-reboot',
  summary: 'emit update_engine\'s "need reboot" D-Bus signal, to test locksmithd or other listeners',
  usage: 'abupdate reboot-lock send-need-reboot [--json]',
  description: [
    'Emits on the system bus what locksmithctl send-need-reboot emits: the signal',
    'com.coreos.update1.Manager.StatusUpdate from /com/coreos/update1 with',
    '(0, 0.0, "UPDATE_STATUS_UPDATED_NEED_REBOOT", "", 0), so a locksmithd (or anything',
    'watching update_engine) reacts as after a real update. Uses dbus-send; $DBUS_SYSTEM_BUS_ADDRESS',
    'selects the bus.',
  ].join('\n'),
  options: {},
  async run(ctx) {
    const args = ['--system', '--type=signal', '/com/coreos/update1', 'com.coreos.update1.Manager.StatusUpdate',
      'int64:0', 'double:0', 'string:UPDATE_STATUS_UPDATED_NEED_REBOOT', 'string:', 'int64:0'];
    try {
      await execa('dbus-send', args, { env: ctx.env, stdin: 'ignore', timeout: 30_000 });
    } catch (error) {
      throw new UpdaterError('ERR_TOOL_FAILED', `Cannot send the need-reboot signal: ${(error as { stderr?: string }).stderr || (error as Error).message}`, {
        cause: error,
        hint: 'It needs dbus-send (Debian package dbus-bin) and a running system bus.',
      });
    }
    report(ctx, 'Sent com.coreos.update1.Manager.StatusUpdate UPDATE_STATUS_UPDATED_NEED_REBOOT on the system bus', {
      sent: true, path: '/com/coreos/update1', signal: 'com.coreos.update1.Manager.StatusUpdate', status: 'UPDATE_STATUS_UPDATED_NEED_REBOOT',
    });
    return 0;
  },
};

function semaphoreKeyOf(t: SemaphoreTarget): string {
  return semaphoreKey(t.group);
}

export const REBOOT_LOCK_COMMANDS: Command[] = [statusCommand, lockCommand, unlockCommand, setMaxCommand, rebootCommand, sendNeedRebootCommand];
