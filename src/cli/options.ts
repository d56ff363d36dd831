// The option table: every CLI option described once (type, value name, help line, the update.conf key it
// overrides). The parseArgs spec and the Options part of `--help` are generated from it.

import type { ParseArgsConfig } from 'node:util';
import type { ConfigKey } from '../config/keys.js';
import type { HostSettings } from '../host/context.js';

export interface OptionDef {
  type: 'string' | 'boolean';
  /** May be given more than once (the values form a list). */
  multiple?: boolean;
  /** The value's name in help and usage: `PATH` in `--disk PATH` (string options only). */
  value?: string;
  /** What it does, one line (or several joined by '\n'), as `--help` prints it. */
  help: string;
  /** The update.conf key this option overrides, if any; `--help` says so. */
  overrides?: ConfigKey;
}

export type OptionTable = Record<string, OptionDef>;

/**
 * The options every command accepts, so that one set of flags works for every command: they say which
 * host the command runs on (src/host/context.ts). A command that has no use for one accepts and ignores it.
 */
export const COMMON_OPTIONS = {
  config: { type: 'string', value: 'FILE', help: 'read this update.conf instead of /etc/abupdate/update.conf (also $ABUPDATE_CONFIG)' },
  disk: { type: 'string', value: 'PATH', help: 'whole-disk device or disk image file (default: the disk of the booted root)', overrides: 'DISK' },
  booted: { type: 'string', value: 'A|B', help: 'override booted-slot detection' },
  bootloader: { type: 'string', value: 'NAME', help: 'gptprio (default), grubenv or grubenv-rauc', overrides: 'BOOTLOADER' },
  grubenv: { type: 'string', value: 'PATH', help: 'the GRUB environment block (grubenv backend)', overrides: 'GRUBENV' },
  'state-dir': { type: 'string', value: 'DIR', help: 'engine state (default /var/lib/abupdate)', overrides: 'STATE_DIR' },
  'run-dir': { type: 'string', value: 'DIR', help: 'lock and control socket (default /run/abupdate)', overrides: 'RUN_DIR' },
  keyring: { type: 'string', multiple: true, value: 'DIR', help: 'directory of trusted *.pub keys (repeatable)', overrides: 'KEYRING_DIRS' },
  compatible: { type: 'string', value: 'S', help: "the host's compatible string", overrides: 'COMPATIBLE' },
  json: { type: 'boolean', help: 'print the report as JSON' },
} as const satisfies OptionTable;

export type CommonOptionName = keyof typeof COMMON_OPTIONS;
export const COMMON_OPTION_NAMES = Object.keys(COMMON_OPTIONS) as CommonOptionName[];

/** A command's own options over the common ones (its own definition of a common name replaces the common help). */
export function commandOptions(own: OptionTable = {}): OptionTable {
  return { ...COMMON_OPTIONS, ...own };
}

/** The `parseArgs` options spec of a table. */
export function parseSpec(table: OptionTable): NonNullable<ParseArgsConfig['options']> {
  const spec: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, def] of Object.entries(table)) spec[name] = def.multiple ? { type: def.type, multiple: true } : { type: def.type };
  return spec;
}

const HELP_COLUMN = 25;

function optionLines(name: string, def: OptionDef): string[] {
  const flag = `  --${name}${def.type === 'string' ? ` ${def.value ?? 'VALUE'}` : ''}`;
  const text = def.overrides === undefined ? def.help : `${def.help}; overrides ${def.overrides}`;
  const [first = '', ...rest] = text.split('\n');
  const lead = flag.length < HELP_COLUMN - 1 ? `${flag.padEnd(HELP_COLUMN - 2)}${first}` : `${flag} ${first}`;
  return [lead, ...rest.map((line) => `${' '.repeat(HELP_COLUMN - 2)}${line}`)];
}

/** The Options part of `--help`: the command's own options, then the common ones (with its changes to them). */
export function optionsHelp(own: OptionTable = {}): string {
  const table = commandOptions(own);
  const ownNames = Object.keys(own).filter((name) => !(name in COMMON_OPTIONS));
  const lines = ['Options:', ...ownNames.flatMap((name) => optionLines(name, table[name] as OptionDef))];
  lines.push('', 'Common options (every command takes them):', ...COMMON_OPTION_NAMES.flatMap((name) => optionLines(name, table[name] as OptionDef)));
  if (ownNames.length === 0) lines.splice(0, 2);
  return lines.join('\n');
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

function text(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The host settings the common options give (undefined where not given: update.conf decides). */
export function hostSettingsFromOptions(values: OptionValues): HostSettings {
  const keyring = values.keyring;
  return {
    configFile: text(values, 'config'),
    disk: text(values, 'disk'),
    booted: text(values, 'booted'),
    bootloader: text(values, 'bootloader'),
    grubenv: text(values, 'grubenv'),
    stateDir: text(values, 'state-dir'),
    runDir: text(values, 'run-dir'),
    keyringDirs: Array.isArray(keyring) ? keyring : typeof keyring === 'string' ? [keyring] : undefined,
    compatible: text(values, 'compatible'),
  };
}
