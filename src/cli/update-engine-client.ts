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
  -update             Forces an update and waits for its completion: until the status is
                      UPDATE_STATUS_UPDATED_NEED_REBOOT or UPDATE_STATUS_IDLE, exit status 0 for both,
                      as the original's (a failed round ends in IDLE too: check -status).
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

/**
 * The original's exit status where it aborts (a failed AttemptUpdate is a glog CHECK: abort(), SIGABRT, which a shell
 * reports as 128 + 6). We exit with that status instead of dumping core.
 */
export const EXIT_ABORTED = 134;

/** The status of a program killed by SIGNAL as a shell reports it (the original dies by SIGINT/SIGTERM there). */
export function signalExit(signal: unknown): number {
  const name = (signal as { data?: { signal?: unknown } } | undefined)?.data?.signal;
  return 128 + (name === 'SIGINT' ? 2 : name === 'SIGHUP' ? 1 : 15);
}

/** GetStatus failed: the original logs it and prints what it has, zeros and glibc's "(null)" for the strings. */
const NULL_STATUS_LINES = 'LAST_CHECKED_TIME=0\nPROGRESS=0.000000\nCURRENT_OP=(null)\nNEW_VERSION=(null)\nNEW_SIZE=0\n';

/** AttemptUpdate, or the original's abort (CHECK_EQ(rc, TRUE) << "Error checking for update: ..."). */
async function attemptOrAbort(t: Update1Transport, log: (line: string) => void): Promise<number | null> {
  try {
    await t.attemptUpdate();
    return null;
  } catch (caught) {
    log(`Check failed: rc == TRUE: Error checking for update: ${toUpdaterError(caught, 'attempt an update').message}`);
    return EXIT_ABORTED;
  }
}

/**
 * -update: starts a round and waits until the status is UPDATE_STATUS_UPDATED_NEED_REBOOT or UPDATE_STATUS_IDLE, with
 * exit status 0 either way, as update_engine_client.cc's CompleteUpdateSource() (a round that failed ends in IDLE too;
 * it is said on stderr). A GetStatus that fails keeps it waiting, as there. Stopped by a signal: 128 + the signal.
 */
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
      log(sawError ? 'The update round failed (UPDATE_STATUS_REPORTING_ERROR_EVENT, then idle); exit status 0, as update_engine_client\'s' : 'No update available');
      return resolveDone(0);
    }
  };
  const unsubscribe = await t.onStatusUpdate((s) => consider(s, false));
  log('Initiating update check and install.');
  const aborted = await attemptOrAbort(t, log);
  if (aborted !== null) {
    unsubscribe();
    return aborted;
  }
  log('Waiting for update to complete.');
  const poll = setInterval(() => {
    t.getStatus().then(
      (s) => consider(s, true),
      (caught: unknown) => {
        // The original prints the zero lines and keeps polling (its current_op is neither IDLE nor NEED_REBOOT).
        log(`Error getting status: ${toUpdaterError(caught, 'status').message}`);
        io.stdout.write(NULL_STATUS_LINES);
      },
    );
  }, UPDATE_POLL_MS);
  const onAbort = () => resolveDone(signalExit(io.signal.reason));
  if (io.signal.aborted) onAbort();
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
      let status: Update1Status;
      try {
        status = await transport.getStatus();
      } catch (caught) {
        // The original: "Error getting status: ...", the lines with zeros and (null), exit status 0.
        log(`Error getting status: ${toUpdaterError(caught, 'status').message}`);
        io.stdout.write(f.json ? 'null\n' : NULL_STATUS_LINES);
        return 0;
      }
      io.stdout.write(f.json ? `${JSON.stringify(status)}\n` : formatStatusLines(status));
      return 0;
    }
    if (f.check_for_update || f.update) {
      if (f.update) return await completeUpdate(transport, io, log);
      log('Initiating update check and install.');
      return (await attemptOrAbort(transport, log)) ?? 0;
    }
    const unsubscribe = await transport.onStatusUpdate((s) => io.stdout.write(`${watchLines(s)}\n`));
    // Said once the match is in place: from here on no StatusUpdate is missed.
    log('Watching for status updates.');
    await new Promise<void>((resolve) => (io.signal.aborted ? resolve() : io.signal.addEventListener('abort', () => resolve(), { once: true })));
    unsubscribe();
    // "Should never return": the original ends only by a signal, so the shell sees 128 + the signal.
    return signalExit(io.signal.reason);
  } catch (caught) {
    const error = toUpdaterError(caught, 'run update_engine_client');
    io.stderr.write(`${UPDATE_ENGINE_CLIENT}: ${error.message} [${error.code}]\n`);
    if (error.hint) io.stderr.write(`${UPDATE_ENGINE_CLIENT}: ${error.hint}\n`);
    return 1;
  } finally {
    transport?.close();
  }
}
