// `abupdate fleet status|hosts|history|pause|resume|gate|serve`: the fleet view and rollout control in etcd.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { UpdaterError } from '../../common/errors.js';
import { startDashboard, parseListen } from '../fleet/dashboard-server.js';
import { FleetKeys } from '../fleet/fleet-keys.js';
import { FleetModel } from '../fleet/fleet-model.js';
import { fleetHistoryText, fleetHostsText, fleetStatusText, hostsInGroup } from '../fleet/fleet-text.js';
import { readHistory } from '../fleet/history.js';
import { pauseGroup, resumeGroup, setGate, type GroupControl } from '../fleet/rollout.js';
import { createLogger } from '../log.js';
import { intOption, report, stringOption, type Command, type CommandContext } from './command.js';
import type { OptionTable } from './options.js';
import type { EtcdClient } from '../reboot/etcd-client.js';
import { openEtcdClient } from '../reboot/etcd-store.js';
import { ETCD_CONNECTION_OPTIONS, etcdConnectionFromOptions } from './etcd-options.js';

/** The fleet's etcd client: the reboot lock's etcd settings (endpoints, TLS, user and password), always the v3 API. */
async function openFleetClient(ctx: CommandContext): Promise<{ client: EtcdClient; endpoints: string[] }> {
  const connection = await etcdConnectionFromOptions(ctx);
  return { client: openEtcdClient(connection, { signal: ctx.signal }), endpoints: connection.endpoints };
}

/** The options of every fleet subcommand: where the fleet is in etcd. */
const ETCD_OPTIONS = {
  ...ETCD_CONNECTION_OPTIONS,
  prefix: { type: 'string', value: 'P', help: 'the fleet key prefix', overrides: 'FLEET_PREFIX' },
} as const satisfies OptionTable;

const VIEW_OPTIONS = {
  group: { type: 'string', value: 'G', help: 'only this group' },
  ...ETCD_OPTIONS,
} as const satisfies OptionTable;

async function fleetTarget(ctx: CommandContext) {
  const { client, endpoints } = await openFleetClient(ctx);
  const prefix = stringOption(ctx.values, 'prefix') ?? (await ctx.host()).config.values.FLEET_PREFIX;
  return { client, endpoints, keys: new FleetKeys(prefix) };
}

async function loadModel(ctx: CommandContext) {
  const t = await fleetTarget(ctx);
  const model = new FleetModel(t.keys);
  await model.load(t.client);
  return { ...t, snapshot: model.snapshot() };
}

function groupArgument(ctx: CommandContext, command: string): string {
  const group = ctx.positionals[0];
  if (group === undefined || !/^[A-Za-z0-9][A-Za-z0-9._:{}-]{0,127}$/.test(group)) {
    throw new UpdaterError('ERR_USAGE', `Cannot run "abupdate fleet ${command}": ${group === undefined ? 'GROUP is required' : `"${group}" is not a group name`}`, {
      hint: `Write e.g. "abupdate fleet ${command} stable".`,
    });
  }
  return group;
}

const operator = (): string => `${os.userInfo().username}@${os.hostname()}`;
const describeControl = (group: string, c: GroupControl): string =>
  `Group ${group}: ${c.paused ? 'paused (hosts check but do not install)' : 'rolling'}; gate: ${c.maxFailures === null ? 'none' : `stop a version after ${c.maxFailures} rollback(s)`}`;

const statusCommand: Command = {
  name: 'fleet status',
  summary: 'the fleet in etcd: hosts per version and state, group switches, then one row per host',
  usage: 'abupdate fleet status [--group G] [--endpoints URLS] [--prefix P] [--json]',
  description: ['Counts per version and per state at the top, the group switches and reboot-lock holders, then', 'a table: host, group, version, state, last check, health. Hosts are those whose lease is alive.'].join('\n'),
  options: VIEW_OPTIONS,
  async run(ctx) {
    const group = stringOption(ctx.values, 'group');
    const { snapshot } = await loadModel(ctx);
    const hosts = hostsInGroup(snapshot, group);
    const groups = snapshot.groups.filter((g) => group === undefined || g.group === group);
    const counts = { hosts: hosts.length, byVersion: {} as Record<string, number>, byState: {} as Record<string, number> };
    for (const h of hosts) {
      counts.byVersion[h.version ?? 'unknown'] = (counts.byVersion[h.version ?? 'unknown'] ?? 0) + 1;
      counts.byState[h.state] = (counts.byState[h.state] ?? 0) + 1;
    }
    report(ctx, fleetStatusText(snapshot, group), { revision: snapshot.revision, counts, groups, rebootLocks: snapshot.rebootLocks, hosts });
    return 0;
  },
};

const hostsCommand: Command = {
  name: 'fleet hosts',
  summary: 'every reporting host with both slots, error, bad versions and reboot-lock holding',
  usage: 'abupdate fleet hosts [--group G] [--endpoints URLS] [--prefix P] [--json]',
  description: 'One row per host with the whole of its report.',
  options: VIEW_OPTIONS,
  async run(ctx) {
    const group = stringOption(ctx.values, 'group');
    const { snapshot } = await loadModel(ctx);
    report(ctx, fleetHostsText(snapshot, group), { hosts: hostsInGroup(snapshot, group) });
    return 0;
  },
};

const historyCommand: Command = {
  name: 'fleet history',
  summary: 'per version: how many hosts were offered, installed, committed and rolled it back, and when',
  usage: 'abupdate fleet history [--group G] [--endpoints URLS] [--prefix P] [--json]',
  description: 'Each cell counts hosts and gives the first time; --json has the first and last time of each.',
  options: VIEW_OPTIONS,
  async run(ctx) {
    const t = await fleetTarget(ctx);
    const history = await readHistory(t, stringOption(ctx.values, 'group'));
    report(ctx, fleetHistoryText(history), { history });
    return 0;
  },
};

const pauseCommand: Command = {
  name: 'fleet pause',
  summary: 'pause a group\'s rollout: its hosts check for updates but do not install',
  usage: 'abupdate fleet pause GROUP [--endpoints URLS] [--prefix P] [--json]',
  description: 'Sets the group\'s paused switch in etcd (compare-and-swap). Installs already running finish.',
  options: ETCD_OPTIONS,
  maxPositionals: 1,
  async run(ctx) {
    const group = groupArgument(ctx, 'pause');
    const { after } = await pauseGroup(await fleetTarget(ctx), group, operator());
    report(ctx, describeControl(group, after), { group, control: after });
    return 0;
  },
};

const resumeCommand: Command = {
  name: 'fleet resume',
  summary: 'resume a paused group\'s rollout',
  usage: 'abupdate fleet resume GROUP [--endpoints URLS] [--prefix P] [--json]',
  description: 'Clears the group\'s paused switch in etcd: its hosts install again.',
  options: ETCD_OPTIONS,
  maxPositionals: 1,
  async run(ctx) {
    const group = groupArgument(ctx, 'resume');
    const { after } = await resumeGroup(await fleetTarget(ctx), group, operator());
    report(ctx, describeControl(group, after), { group, control: after });
    return 0;
  },
};

const gateCommand: Command = {
  name: 'fleet gate',
  summary: 'stop a version for a group once N of its hosts rolled it back',
  usage: 'abupdate fleet gate GROUP --max-failures N | --off [--endpoints URLS] [--prefix P] [--json]',
  description: [
    'Every host that rolls a version back marks it in etcd; once N hosts of the group did, the version',
    'is stopped for the whole group: hosts skip it without downloading. Versions already at N stop now.',
  ].join('\n'),
  options: {
    'max-failures': { type: 'string', value: 'N', help: 'rollbacks that stop a version (1 or more)' },
    off: { type: 'boolean', help: 'remove the gate (stopped versions stay stopped)' },
    ...ETCD_OPTIONS,
  },
  maxPositionals: 1,
  async run(ctx) {
    const group = groupArgument(ctx, 'gate');
    const max = intOption(ctx.values, 'max-failures', 1, 1_000_000);
    const off = ctx.values.off === true;
    if ((max === undefined) === !off) {
      throw new UpdaterError('ERR_USAGE', 'Cannot run "abupdate fleet gate": give either --max-failures N or --off', { hint: 'Write e.g. "abupdate fleet gate stable --max-failures 3".' });
    }
    const { control, stopped } = await setGate(await fleetTarget(ctx), group, off ? null : max!, operator());
    report(ctx, `${describeControl(group, control)}${stopped.length > 0 ? `\nStopped now: ${stopped.join(', ')}` : ''}`, { group, control, stopped });
    return 0;
  },
};

const serveCommand: Command = {
  name: 'fleet serve',
  summary: 'serve the fleet dashboard: one page, a JSON API and live updates from etcd watches',
  usage: 'abupdate fleet serve [--listen HOST:PORT] [--token-file FILE] [--endpoints URLS] [--prefix P]',
  description: [
    'Serves the dashboard at http://HOST:PORT/ (JSON: /api/fleet, /api/summary, /api/history; live:',
    '/api/events). Pause, resume and the gate need the token in FILE (sent as "Authorization: Bearer',
    'TOKEN"); without --token-file the dashboard is read-only.',
  ].join('\n'),
  options: {
    listen: { type: 'string', value: 'HOST:PORT', help: 'where to listen (default 127.0.0.1:8080)' },
    'token-file': { type: 'string', value: 'FILE', help: 'the operator token (first line of FILE); without it the dashboard is read-only' },
    ...ETCD_OPTIONS,
  },
  async run(ctx) {
    const { host, port } = parseListen(stringOption(ctx.values, 'listen') ?? '127.0.0.1:8080');
    const tokenFile = stringOption(ctx.values, 'token-file');
    let token: string | undefined;
    if (tokenFile !== undefined) {
      token = (await readFile(tokenFile, 'utf8').catch((cause: unknown) => {
        throw new UpdaterError('ERR_IO', `Cannot read the token file "${tokenFile}": ${(cause as Error).message}`, { cause });
      })).split('\n')[0]!.trim();
      if (token.length < 16) throw new UpdaterError('ERR_USAGE', `Cannot use the token in "${tokenFile}": it is shorter than 16 characters`, { hint: 'Write one with e.g. "openssl rand -hex 32 > FILE".' });
    }
    const { client, keys } = await fleetTarget(ctx);
    const logger = createLogger({ env: ctx.env, stream: ctx.stderr });
    const dashboard = await startDashboard({ client, keys, host, port, token, logger, signal: ctx.signal });
    await dashboard.ready;
    ctx.stdout.write(ctx.json ? `${JSON.stringify({ url: dashboard.url, actions: token !== undefined })}\n` : `Fleet dashboard at ${dashboard.url}/ (${token === undefined ? 'read-only' : 'actions need the token'})\n`);
    await new Promise<void>((resolve) => (ctx.signal.aborted ? resolve() : ctx.signal.addEventListener('abort', () => resolve(), { once: true })));
    await dashboard.close();
    return 0;
  },
};

export const FLEET_COMMANDS: Command[] = [statusCommand, hostsCommand, historyCommand, pauseCommand, resumeCommand, gateCommand, serveCommand];
