// What a subcommand is, the options most of them share, and how one prints its report.

import type { ParseArgsConfig } from 'node:util';
import { UpdaterError } from '../../common/errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  values: OptionValues;
  positionals: string[];
  json: boolean;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

export interface Command {
  /** One or two words: `slots`, `bundle create`. */
  name: string;
  /** One line for `abupdate --help`. */
  summary: string;
  /** The usage lines and option descriptions for `abupdate NAME --help`. */
  help: string;
  options: OptionSpec;
  /** How many positionals are allowed (default 0). */
  maxPositionals?: number;
  run(ctx: CommandContext): Promise<number>;
}

/** Options many commands share; each command picks the ones it uses. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  disk: { type: 'string' },
  booted: { type: 'string' },
  bootloader: { type: 'string' },
  grubenv: { type: 'string' },
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  'run-dir': { type: 'string' },
  keyring: { type: 'string', multiple: true },
  compatible: { type: 'string' },
} as const satisfies OptionSpec;

export const COMMON_HELP = {
  json: '  --json                 print the report as JSON',
  disk: '  --disk PATH            whole-disk device or disk image file (default: the disk of the booted root)',
  booted: '  --booted A|B           override booted-slot detection',
  bootloader: '  --bootloader NAME      gptprio (default) or grubenv',
  grubenv: '  --grubenv PATH         the GRUB environment block (grubenv backend)',
  config: '  --config FILE          read this update.conf instead of the default locations',
  'state-dir': '  --state-dir DIR        engine state (default /var/lib/abupdate)',
  'run-dir': '  --run-dir DIR          lock and control socket (default /run/abupdate)',
  keyring: '  --keyring DIR          directory of trusted *.pub keys (repeatable)',
  compatible: "  --compatible S         the host's compatible string",
} as const;

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
