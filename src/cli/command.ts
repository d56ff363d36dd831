// What a subcommand is, how its --help is generated from the option table, and how it prints its report.

import { UpdaterError } from '../../common/errors.js';
import type { HostContext } from '../host/context.js';
import type { InstallCheckpoint } from '../engine/install-points.js';
import { commandOptions, optionsHelp, type OptionTable, type OptionValues } from './options.js';

export type { OptionValues } from './options.js';

export interface CommandContext {
  values: OptionValues;
  positionals: string[];
  json: boolean;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Handed to the install (install-points.ts): tests only. */
  checkpoint?: InstallCheckpoint;
  /** The host context from the common options over update.conf: built at the first call, then shared. */
  host(): Promise<HostContext>;
}

export interface Command {
  /** One or two words: `slots`, `bundle create`. */
  name: string;
  /** One line for `abupdate --help`. */
  summary: string;
  /** The usage line(s): `abupdate mark-active SLOT [--tries N] [OPTIONS]`. */
  usage: string;
  /** What the command does, for `abupdate NAME --help` (between the usage and the options). */
  description: string;
  /** The command's own options (src/cli/options.ts); the common options come on top. A common name here changes its help. */
  options?: OptionTable;
  /** How many positionals are allowed (default 0). */
  maxPositionals?: number;
  run(ctx: CommandContext): Promise<number>;
}

/** Every option the command accepts: its own and the common ones. */
export function acceptedOptions(command: Command): OptionTable {
  return commandOptions(command.options);
}

/** `abupdate NAME --help`, generated: usage, description, then every option it accepts from the option table. */
export function commandHelp(command: Command): string {
  const usage = command.usage.startsWith('Usage: ') ? command.usage : `Usage: ${command.usage}`;
  return [usage, '', command.description.trimEnd(), '', optionsHelp(command.options)].join('\n');
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new UpdaterError('ERR_USAGE', `Cannot parse option --${name}: expected a value`);
  return value;
}

export function requireOption(values: OptionValues, name: string, command: string): string {
  const value = stringOption(values, name);
  if (value === undefined || value === '') {
    throw new UpdaterError('ERR_USAGE', `Cannot run "abupdate ${command}": --${name} is required`, {
      hint: `See "abupdate ${command} --help".`,
    });
  }
  return value;
}

export function listOption(values: OptionValues, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return [value];
  throw new UpdaterError('ERR_USAGE', `Cannot parse option --${name}: expected a value`);
}

export function intOption(values: OptionValues, name: string, min: number, max: number): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UpdaterError('ERR_USAGE', `Cannot parse option --${name}: "${text}" is not a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Prints the human report, or the JSON value as one line when --json was given. */
export function report(ctx: CommandContext, human: string, json: unknown): void {
  if (ctx.json) ctx.stdout.write(`${JSON.stringify(json)}\n`);
  else ctx.stdout.write(human.endsWith('\n') ? human : `${human}\n`);
}
