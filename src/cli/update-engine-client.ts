// update_engine_client: update_engine's command-line client, as the same program entered under that name
// (flags, output and exit codes of flatcar/update_engine's update_engine_client.cc; docs/service.md).

import { UpdaterError, toUpdaterError } from '../../common/errors.js';
import { connectUpdate1Client } from '../dbus/client.js';
import { systemBusAddress } from '../dbus/service.js';
import { formatStatusLines, type Update1Status } from '../dbus/update1.js';
import { connectControlUpdate1 } from '../daemon/control-update1.js';
import { createHostContext } from '../host/context.js';

export const UPDATE_ENGINE_CLIENT = 'update_engine_client';

/** What main() gets: the streams, the environment, the stop signal. */
export interface ClientIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** The operations of update_engine_client.cc's gflags, and ours for finding the daemon without a bus. */
const BOOL_FLAGS = ['check_for_update', 'status', 'reset_status', 'update', 'watch_for_updates', 'json', 'help'] as const;
const STRING_FLAGS = ['config', 'run_dir'] as const;
type BoolFlag = (typeof BOOL_FLAGS)[number];
type StringFlag = (typeof STRING_FLAGS)[number];

export interface ClientFlags {
  bools: Record<BoolFlag, boolean>;
  strings: Partial<Record<StringFlag, string>>;
}

/** -update polls the status this often, as update_engine_client's CompleteUpdate() (5 s). */
export const UPDATE_POLL_MS = 5000;

const HELP = `Usage: update_engine_client [FLAGS]

update_engine's client for abupdate: talks to the running "abupdate daemon" over D-Bus
(com.coreos.update1 on the system bus) or, where no bus runs, over its control socket.

Flags (gflags style: -flag, --flag, -flag=true|false, -noflag):
  -check_for_update   Initiate check for updates.
  -status             Print the status to stdout.
  -reset_status       Sets the status in update_engine to idle.
  -update             Forces an update and waits for its completion. Exit status is 0 if the
                      update succeeded (or there was none), and 1 otherwise.
  -watch_for_updates  Listen for status updates and print them to the screen.
  -json               With -status: the five values as one JSON object.
  -config FILE        update.conf to find RUN_DIR in (control socket fallback).
  -run_dir DIR        the daemon's run dir (control socket fallback; default RUN_DIR).
  -help               Show this help.
`;

const TRUE = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0']);

/** Parses gflags-style flags; an unknown flag is refused as gflags does ("unknown command line flag"). */
export function parseClientFlags(argv: string[]): ClientFlags {
  const bools = Object.fromEntries(BOOL_FLAGS.map((f) => [f, false])) as Record<BoolFlag, boolean>;
  const strings: ClientFlags['strings'] = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--?([A-Za-z_][A-Za-z0-9_-]*)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new UpdaterError('ERR_USAGE', `Cannot run update_engine_client: unexpected argument "${arg}"`, { hint: 'See "update_engine_client -help".' });
    const name = (match[1] ?? '').replace(/-/g, '_');
    const value = match[2];
    if ((STRING_FLAGS as readonly string[]).includes(name)) {
      const text = value ?? argv[++i];
      if (text === undefined) throw new UpdaterError('ERR_USAGE', `Cannot run update_engine_client: flag '${name}' is missing its argument`);
      strings[name as StringFlag] = text;
      continue;
    }
    const negated = value === undefined && name.startsWith('no') && (BOOL_FLAGS as readonly string[]).includes(name.slice(2));
    const flag = negated ? name.slice(2) : name;
    if (!(BOOL_FLAGS as readonly string[]).includes(flag)) {
      throw new UpdaterError('ERR_USAGE', `Cannot run update_engine_client: unknown command line flag '${name}'`, { hint: 'See "update_engine_client -help".' });
    }
    let on = !negated;
    if (value !== undefined) {
      if (TRUE.has(value.toLowerCase())) on = true;
      else if (FALSE.has(value.toLowerCase())) on = false;
      else throw new UpdaterError('ERR_USAGE', `Cannot run update_engine_client: illegal value '${value}' specified for bool flag '${flag}'`);
    }
    bools[flag as BoolFlag] = on;
  }
  return { bools, strings };
}

/** The three methods and the signal, over D-Bus or the control socket. */
export interface Update1Transport {
  /** Where it talks to, for messages. */
  via: string;
  getStatus(): Promise<Update1Status>;
  attemptUpdate(): Promise<void>;
  resetStatus(): Promise<void>;
  onStatusUpdate(listener: (status: Update1Status) => void): Promise<() => void>;
  close(): void;
}

async function connect(flags: ClientFlags, io: ClientIo): Promise<Update1Transport> {
  const address = systemBusAddress(io.env);
  const bus = await connectUpdate1Client(address);
  if (bus) return { via: `com.coreos.update1 on ${address}`, ...bus };
  const { runDir } = await createHostContext({ configFile: flags.strings.config, runDir: flags.strings.run_dir }, io.env);
  const control = await connectControlUpdate1(runDir);
  if (control) return control;
  throw new UpdaterError('ERR_DAEMON', `Cannot reach update_engine: no owner of com.coreos.update1 on the system bus (${address}) and no daemon on the control socket in ${runDir}`, {
    hint: 'Is "abupdate daemon" running (systemctl status abupdate)? Without a system bus, pass -run_dir or -config.',
  });
}

/** C++'s `ostream << double` (6 significant digits, no trailing zeros), as the -watch_for_updates lines print it. */
function streamDouble(value: number): string {
  if (value === 0) return '0';
  const text = value.toPrecision(6);
  return text.includes('e') ? text.replace(/\.?0+e/, 'e') : text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

function watchLines(s: Update1Status): string {
  return [
    'Got status update:',
    `  last_checked_time: ${s.lastCheckedTime}`,
    `  progress: ${streamDouble(s.progress)}`,
    `  current_operation: ${s.currentOperation}`,
    `  new_version: ${s.newVersion}`,
    `  new_size: ${s.newSize}`,
  ].join('\n');
}

/** -update: starts a round and waits until it ends in UPDATED_NEED_REBOOT (0), back in IDLE (0, or 1 after an error). */
async function completeUpdate(t: Update1Transport, io: ClientIo, log: (line: string) => void): Promise<number> {
  let sawActivity = false;
  let sawError = false;
  let lastOp = '';
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const startedAt = Date.now();
  const consider = (s: Update1Status, print: boolean) => {
    if (print || s.currentOperation !== lastOp) io.stdout.write(formatStatusLines(s));
    lastOp = s.currentOperation;
    if (s.currentOperation === 'UPDATE_STATUS_UPDATED_NEED_REBOOT') {
      log('Update succeeded -- reboot needed.');
      return resolveDone(0);
    }
    if (s.currentOperation === 'UPDATE_STATUS_REPORTING_ERROR_EVENT') sawError = true;
    if (s.currentOperation !== 'UPDATE_STATUS_IDLE') sawActivity = true;
    // As the original, IDLE at the first poll means no update; IDLE after a round was seen ends it.
    else if (sawActivity || Date.now() - startedAt >= UPDATE_POLL_MS) {
      if (sawError) {
        log('Update failed.');
        return resolveDone(1);
      }
      log('No update available');
      return resolveDone(0);
    }
  };
  const unsubscribe = await t.onStatusUpdate((s) => consider(s, false));
  log('Initiating update check and install.');
  await t.attemptUpdate();
  log('Waiting for update to complete.');
  const poll = setInterval(() => {
    t.getStatus().then(
      (s) => consider(s, true),
      (caught: unknown) => {
        log(`Update failed: ${toUpdaterError(caught, 'status').message}`);
        resolveDone(1);
      },
    );
  }, UPDATE_POLL_MS);
  const onAbort = () => resolveDone(1);
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await done;
  } finally {
    clearInterval(poll);
    unsubscribe();
    io.signal.removeEventListener('abort', onAbort);
  }
}

export async function updateEngineClientMain(argv: string[], io: ClientIo): Promise<number> {
  const log = (line: string) => io.stderr.write(`${UPDATE_ENGINE_CLIENT}: ${line}\n`);
  let transport: Update1Transport | undefined;
  try {
    const flags = parseClientFlags(argv);
    const f = flags.bools;
    if (f.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (!f.reset_status && !f.status && !f.check_for_update && !f.update && !f.watch_for_updates) {
      log('Done.');
      return 0;
    }
    transport = await connect(flags, io);
    // The original's order: reset_status, status, check_for_update/update, watch_for_updates; the first one given runs.
    if (f.reset_status) {
      log('Setting Update Engine status to idle ...');
      try {
        await transport.resetStatus();
      } catch (caught) {
        log(`ResetStatus failed: ${toUpdaterError(caught, 'reset').message}`);
        return 1;
      }
      log('ResetStatus succeeded.');
      return 0;
    }
    if (f.status) {
      log('Querying Update Engine status...');
      const status = await transport.getStatus();
      io.stdout.write(f.json ? `${JSON.stringify(status)}\n` : formatStatusLines(status));
      return 0;
    }
    if (f.check_for_update || f.update) {
      if (f.update) return await completeUpdate(transport, io, log);
      log('Initiating update check and install.');
      await transport.attemptUpdate();
      return 0;
    }
    const unsubscribe = await transport.onStatusUpdate((s) => io.stdout.write(`${watchLines(s)}\n`));
    // Said once the match is in place: from here on no StatusUpdate is missed.
    log('Watching for status updates.');
    await new Promise<void>((resolve) => (io.signal.aborted ? resolve() : io.signal.addEventListener('abort', () => resolve(), { once: true })));
    unsubscribe();
    return 1;
  } catch (caught) {
    const error = toUpdaterError(caught, 'run update_engine_client');
    io.stderr.write(`${UPDATE_ENGINE_CLIENT}: ${error.message} [${error.code}]\n`);
    if (error.hint) io.stderr.write(`${UPDATE_ENGINE_CLIENT}: ${error.hint}\n`);
    return 1;
  } finally {
    transport?.close();
  }
}
