// Loads update.conf: defaults, the vendor file, the /etc file (or --config FILE), then ABUPDATE_<KEY> variables.

import { readFile } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import { parseEnvFile } from './env-file.js';
import { CONFIG_KEYS, CONFIG_KEY_NAMES, REDACTED, closestKey, isConfigKey, isSecretKey, type ConfigKey, type ConfigValues } from './keys.js';
import { isInvalid } from './value-parsers.js';

export const DEFAULT_VENDOR_CONFIG = '/usr/share/abupdate/update.conf';
export const DEFAULT_ETC_CONFIG = '/etc/abupdate/update.conf';
/** Environment variables that override a key are named ENV_PREFIX + KEY, e.g. ABUPDATE_SERVER. */
export const ENV_PREFIX = 'ABUPDATE_';

export type ConfigOrigin =
  | { source: 'default' }
  | { source: 'vendor' | 'etc'; file: string; line: number }
  | { source: 'env'; variable: string };

export interface LoadedConfig {
  values: ConfigValues;
  /** Where each value came from. */
  origins: Record<ConfigKey, ConfigOrigin>;
  /** Each value as written. */
  raw: Record<ConfigKey, string>;
  /** The files that were read (missing optional files are left out). */
  files: string[];
}

export interface LoadConfigOptions {
  /** Vendor defaults (default /usr/share/abupdate/update.conf, or $ABUPDATE_VENDOR_CONFIG); a missing file is fine. */
  vendorFile?: string;
  /** The admin's file (default /etc/abupdate/update.conf); a missing file is fine. */
  etcFile?: string;
  /** `--config FILE` (or $ABUPDATE_CONFIG): replaces the /etc file and must exist. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
}

export function describeOrigin(origin: ConfigOrigin): string {
  if (origin.source === 'default') return 'default';
  if (origin.source === 'env') return `env ${origin.variable}`;
  return `${origin.file}:${origin.line}`;
}

function where(origin: ConfigOrigin): string {
  if (origin.source === 'env') return `environment variable ${origin.variable}`;
  if (origin.source === 'default') return 'the built-in default';
  return `${origin.file}:${origin.line}`;
}

function valueError(key: ConfigKey, written: string, origin: ConfigOrigin, why: string): UpdaterError {
  const allowed = CONFIG_KEYS[key].parser.allowed;
  // A bad password is still a password: the error names where it is, never what it is.
  const text = isSecretKey(key) ? REDACTED : written;
  return new UpdaterError('ERR_CONFIG', `Cannot use config ${where(origin)}: ${key}="${text}" ${why}; allowed: ${allowed}`, {
    data: { ...originData(origin), key, value: text, allowed },
    hint: origin.source === 'env' ? `Fix or unset ${origin.variable}.` : `Fix line ${'line' in origin ? origin.line : ''} of ${'file' in origin ? origin.file : ''}.`,
  });
}

function originData(origin: ConfigOrigin): Record<string, unknown> {
  if (origin.source === 'env') return { variable: origin.variable };
  if (origin.source === 'default') return {};
  return { file: origin.file, line: origin.line };
}

async function readOptional(file: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    throw new UpdaterError('ERR_CONFIG', `Cannot read config ${file}: ${(error as Error).message}`, {
      cause: error,
      data: { file },
      hint: code === 'ENOENT' ? 'Check the path given with --config.' : 'Check that the file is readable.',
    });
  }
}

/** Loads and validates the whole configuration; the first bad value throws ERR_CONFIG naming where it was written. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const vendorFile = options.vendorFile ?? nonEmpty(env.ABUPDATE_VENDOR_CONFIG) ?? DEFAULT_VENDOR_CONFIG;
  const explicit = options.configFile ?? nonEmpty(env.ABUPDATE_CONFIG);
  const etcFile = explicit ?? options.etcFile ?? DEFAULT_ETC_CONFIG;

  const raw = {} as Record<ConfigKey, string>;
  const origins = {} as Record<ConfigKey, ConfigOrigin>;
  for (const name of CONFIG_KEY_NAMES) {
    raw[name] = CONFIG_KEYS[name].default;
    origins[name] = { source: 'default' };
  }
  const files: string[] = [];
  for (const [file, source, required] of [
    [vendorFile, 'vendor', false],
    [etcFile, 'etc', explicit !== undefined],
  ] as const) {
    const text = await readOptional(file, required);
    if (text === undefined) continue;
    files.push(file);
    for (const assignment of parseEnvFile(text, file)) {
      if (!isConfigKey(assignment.key)) {
        const suggestion = closestKey(assignment.key);
        throw new UpdaterError('ERR_CONFIG', `Cannot use config ${file}:${assignment.line}: unknown key "${assignment.key}"`, {
          data: { file, line: assignment.line, key: assignment.key },
          hint: suggestion ? `Did you mean ${suggestion}? Known keys: ${CONFIG_KEY_NAMES.join(', ')}.` : `Known keys: ${CONFIG_KEY_NAMES.join(', ')}.`,
        });
      }
      raw[assignment.key] = assignment.value;
      origins[assignment.key] = { source, file, line: assignment.line };
    }
  }
  for (const name of CONFIG_KEY_NAMES) {
    const variable = `${ENV_PREFIX}${name}`;
    const value = env[variable];
    if (value !== undefined) {
      raw[name] = value;
      origins[name] = { source: 'env', variable };
    }
  }

  const values = {} as Record<ConfigKey, unknown>;
  for (const name of CONFIG_KEY_NAMES) {
    const parsed = CONFIG_KEYS[name].parser.parse(raw[name]);
    if (isInvalid(parsed)) throw valueError(name, raw[name], origins[name], parsed.why);
    values[name] = parsed;
  }
  const config: LoadedConfig = { values: values as ConfigValues, origins, raw, files };
  checkCombinations(config);
  return config;
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}

/** Rules that involve two keys; the error names where the key that needs fixing was written. */
function checkCombinations(config: LoadedConfig): void {
  const { values, origins, raw } = config;
  const pair = (set: ConfigKey, missing: ConfigKey, why: string): never => {
    const origin = origins[set];
    throw new UpdaterError('ERR_CONFIG', `Cannot use config ${where(origin)}: ${set}="${raw[set]}" ${why}`, {
      data: { ...originData(origin), key: set, value: raw[set], missing },
      hint: `Set ${missing} too, or remove ${set}.`,
    });
  };
  if (values.REBOOT_WINDOW_START !== null && values.REBOOT_WINDOW_LENGTH === null) {
    pair('REBOOT_WINDOW_START', 'REBOOT_WINDOW_LENGTH', 'needs REBOOT_WINDOW_LENGTH as well');
  }
  if (values.REBOOT_WINDOW_LENGTH !== null && values.REBOOT_WINDOW_START === null) {
    pair('REBOOT_WINDOW_LENGTH', 'REBOOT_WINDOW_START', 'needs REBOOT_WINDOW_START as well');
  }
  if (values.REBOOT_STRATEGY === 'fleetlock' && values.FLEETLOCK_URL === null) {
    pair('REBOOT_STRATEGY', 'FLEETLOCK_URL', 'needs FLEETLOCK_URL (the FleetLock server)');
  }
}
