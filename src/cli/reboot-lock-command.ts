// `abupdate reboot-lock status|lock|unlock|set-max`: inspect and fix the fleet reboot lock in etcd (locksmithctl's verbs).

import { UpdaterError } from '../../common/errors.js';
import { EtcdClient, parseEtcdEndpoints } from '../reboot/etcd-client.js';
import { DEFAULT_MACHINE_ID_PATH, readMachineId } from '../reboot/reboot-config.js';
import { lockSemaphore, readSemaphore, semaphoreKey, setSemaphoreMax, unlockSemaphore, type Semaphore, type SemaphoreTarget } from '../reboot/etcd-semaphore.js';
import { stringOption, report, type Command, type CommandContext } from './command.js';
import type { OptionTable } from './options.js';

export const DEFAULT_ETCD_ENDPOINTS = 'http://127.0.0.1:2379';
const DEFAULT_MACHINE_ID_FILE = DEFAULT_MACHINE_ID_PATH;

/** The options of every reboot-lock subcommand. */
const LOCK_OPTIONS = {
  group: { type: 'string', value: 'G', help: 'reboot group (default: the ungrouped key, as locksmith)' },
  endpoints: {
    type: 'string',
    value: 'URLS',
    help: `etcd client URLs, comma-separated (default: ETCD_ENDPOINTS from update.conf or\n$ABUPDATE_ETCD_ENDPOINTS, else ${DEFAULT_ETCD_ENDPOINTS})`,
  },
} as const satisfies OptionTable;

/** lock and unlock also name the holder. */
const HOLDER_OPTIONS = {
  ...LOCK_OPTIONS,
  id: { type: 'string', value: 'ID', help: 'holder id (default: the contents of --machine-id-file)' },
  'machine-id-file': { type: 'string', value: 'PATH', help: `where the machine id is read (default: MACHINE_ID_PATH from update.conf, ${DEFAULT_MACHINE_ID_FILE})` },
} as const satisfies OptionTable;

async function target(ctx: CommandContext): Promise<SemaphoreTarget & { endpoints: string[] }> {
  // The config (with its ABUPDATE_<KEY> overrides) is read only when --endpoints is not given.
  const text = stringOption(ctx.values, 'endpoints') ?? (await ctx.host()).config.values.ETCD_ENDPOINTS.join(',');
  const endpoints = parseEtcdEndpoints(text);
  if (endpoints === undefined) {
    throw new UpdaterError('ERR_USAGE', `Cannot use the etcd endpoints "${text}": expected comma-separated http:// or https:// URLs`, {
      hint: 'Pass e.g. --endpoints http://10.0.0.1:2379,http://10.0.0.2:2379',
    });
  }
  const client = new EtcdClient({ endpoints, signal: ctx.signal });
  return { client, group: stringOption(ctx.values, 'group'), endpoints };
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
    report(ctx, human, { key: state.key, group: t.group ?? '', endpoints: t.endpoints, semaphore: state.semaphore, max: state.max, holders: state.holders });
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

function semaphoreKeyOf(t: SemaphoreTarget): string {
  return semaphoreKey(t.group);
}

export const REBOOT_LOCK_COMMANDS: Command[] = [statusCommand, lockCommand, unlockCommand, setMaxCommand];
