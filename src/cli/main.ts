#!/usr/bin/env -S node --max-semi-space-size=2
// The abupdate command: finds the subcommand, parses its options, runs it, prints errors as data.
// The #! line carries scripts/node-flags (src/daemon/systemd-unit.test.ts checks they agree): package.json's `bin`
// runs this file through it, so npm's `abupdate` gets the flags scripts/install.sh's wrapper passes.

import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { UpdaterError, toUpdaterError } from '../../common/errors.js';
import type { HostContext } from '../host/context.js';
import type { InstallCheckpoint } from '../engine/install-points.js';
import { acceptedOptions, commandHelp, type CommandContext } from './command.js';
import { COMMANDS, type CommandEntry } from './commands.js';
import { hostSettingsFromOptions, parseSpec } from './options.js';
import { readPackageVersion } from './package-version.js';
// Types only: a command's modules, the host context and update_engine_client are imported when they are needed
// (src/cli/commands.ts says why).
import type { UPDATE_ENGINE_CLIENT } from './update-engine-client.js';

const UPDATE_ENGINE_CLIENT_NAME: typeof UPDATE_ENGINE_CLIENT = 'update_engine_client';

const VERSION = readPackageVersion() ?? 'unknown';

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: abupdate COMMAND [OPTIONS]',
    '',
    'Atomic A/B OS updates: signed full images written to the passive slot, verified,',
    'booted once on trial, committed by a health check or rolled back automatically.',
    '',
    'Commands:',
    ...lines,
    '',
    'Every command takes --help; commands that report take --json.',
    '  --version   print the version',
  ].join('\n');
}

function findCommand(argv: string[]): { entry: CommandEntry; rest: string[] } | undefined {
  const [first, second] = argv;
  if (second !== undefined) {
    const two = COMMANDS.find((c) => c.name === `${first} ${second}`);
    if (two) return { entry: two, rest: argv.slice(2) };
  }
  const one = COMMANDS.find((c) => c.name === first);
  if (one) return { entry: one, rest: argv.slice(1) };
  return undefined;
}

export interface MainIo {
  stdout: CommandContext['stdout'];
  stderr: CommandContext['stderr'];
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** The install's checkpoint (the fault-injection seam of the tests: fixtures/kill-cli.ts); the program passes none. */
  checkpoint?: InstallCheckpoint;
}

export async function main(argv: string[], io: MainIo): Promise<number> {
  const json = argv.includes('--json');
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout.write(`${topHelp()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout.write(json ? `${JSON.stringify({ version: VERSION })}\n` : `abupdate ${VERSION}\n`);
    return 0;
  }
  try {
    const found = findCommand(argv);
    if (!found) {
      const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
      if (group.length > 0 && (argv[1] === undefined || argv[1] === '--help')) {
        io.stdout.write(`Usage: abupdate ${argv[0]} SUBCOMMAND\n\n${group.map((c) => `  ${c.name}  ${c.summary}`).join('\n')}\n`);
        return argv[1] === '--help' ? 0 : 2;
      }
      throw new UpdaterError('ERR_USAGE', `Cannot run "abupdate ${argv.slice(0, 2).join(' ')}": no such command`, {
        hint: 'Run "abupdate --help" for the list of commands.',
      });
    }
    const { entry, rest } = found;
    const command = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(`${commandHelp(command)}\n`);
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: parseSpec(acceptedOptions(command)), allowPositionals: true, strict: true });
    } catch (error) {
      throw new UpdaterError('ERR_USAGE', `Cannot parse the options of "abupdate ${command.name}": ${(error as Error).message}`, {
        hint: `See "abupdate ${command.name} --help".`,
      });
    }
    const max = command.maxPositionals ?? 0;
    if (parsed.positionals.length > max) {
      throw new UpdaterError('ERR_USAGE', `Cannot run "abupdate ${command.name}": unexpected argument "${parsed.positionals[max]}"`, {
        hint: `See "abupdate ${command.name} --help".`,
      });
    }
    const values = parsed.values as CommandContext['values'];
    let host: Promise<HostContext> | undefined;
    const ctx: CommandContext = {
      values,
      positionals: parsed.positionals,
      json,
      stdout: io.stdout,
      stderr: io.stderr,
      env: io.env,
      signal: io.signal,
      ...(io.checkpoint ? { checkpoint: io.checkpoint } : {}),
      host: () => (host ??= import('../host/context.js').then((m) => m.createHostContext(hostSettingsFromOptions(values), io.env))),
    };
    return await command.run(ctx);
  } catch (caught) {
    const error = toUpdaterError(caught, `run "abupdate ${argv[0] ?? ''}"`);
    printError(error, json, io);
    return error.code === 'ERR_USAGE' ? 2 : 1;
  }
}

export function printError(error: UpdaterError, json: boolean, io: Pick<MainIo, 'stdout' | 'stderr' | 'env'>): void {
  if (json) io.stdout.write(`${JSON.stringify({ error: error.toJSON() })}\n`);
  io.stderr.write(`abupdate: ${error.message} [${error.code}]\n`);
  if (error.hint) io.stderr.write(`abupdate: ${error.hint}\n`);
  if (error.code === 'ERR_INTERNAL' && io.env.ABUPDATE_DEBUG && error.cause instanceof Error) {
    io.stderr.write(`${error.cause.stack ?? ''}\n`);
  }
}

/** The program as entered: `update_engine_client` (its wrapper sets ABUPDATE_PROGRAM, or a link by that name), else abupdate. */
export function enteredAs(env: NodeJS.ProcessEnv, argv1: string | undefined): 'abupdate' | typeof UPDATE_ENGINE_CLIENT {
  const name = env.ABUPDATE_PROGRAM ?? argv1?.split('/').pop() ?? '';
  return name === UPDATE_ENGINE_CLIENT_NAME ? UPDATE_ENGINE_CLIENT_NAME : 'abupdate';
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry || process.argv[1]?.endsWith('/abupdate') || process.argv[1]?.endsWith(`/${UPDATE_ENGINE_CLIENT_NAME}`)) {
  // The optimizing compiler (TurboFan) only for the content-defined chunker's inner loop (verify/cdc.ts findCut), set
  // here so that every way of starting the program gets it (the `bin`, the wrapper, the units) with no flag to know:
  // the rest of abupdate's heavy work is native (SHA-256, zstd, CRC32, reads and writes), and TurboFan's code and
  // compile zones cost 13 MiB of peak RSS in an install and 4 MiB in `status` for no measurable speed
  // (docs/engine.md "Memory"). findCut is the one hot loop in JavaScript: without TurboFan it chunks at 22 MiB/s
  // instead of 360 (a delta install's read-only scan of a slot, bundle create --format 2). --turbo-filter keeps that
  // one function optimized. The tests' in-process runs (runCli) keep V8's defaults.
  setFlagsFromString('--turbo-filter=findCut');
  const program = enteredAs(process.env, process.argv[1]);
  // Not passed on to the commands' children (health checks, reboot command).
  delete process.env.ABUPDATE_PROGRAM;
  const run: typeof main =
    program === UPDATE_ENGINE_CLIENT_NAME ? async (args, io) => (await import('./update-engine-client.js')).updateEngineClientMain(args, io) : main;
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => controller.abort(new UpdaterError('ERR_ABORTED', `Cannot continue: stopped by ${signal}`, { data: { signal } }));
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`abupdate: internal error: ${String(error)}\n`);
      process.exitCode = 70;
    },
  );
}
