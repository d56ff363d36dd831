// Loads update.conf: defaults, Flatcar's release file, the vendor files (/usr/share/flatcar/update.conf, then
// /usr/share/abupdate/update.conf), the admin's files (/etc/flatcar/update.conf, then /etc/abupdate/update.conf or
// --config FILE), then ABUPDATE_<KEY> variables. Each later one overrides the earlier.

import { readFile } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import { parseEnvFile } from './env-file.js';
import { CONFIG_KEYS, CONFIG_KEY_NAMES, REDACTED, closestKey, isConfigKey, isSecretKey, type ConfigKey, type ConfigValues } from './keys.js';
import { isInvalid } from './value-parsers.js';

export const DEFAULT_VENDOR_CONFIG = '/usr/share/abupdate/update.conf';
export const DEFAULT_ETC_CONFIG = '/etc/abupdate/update.conf';
/** Flatcar's files, read as update_engine and locksmithd read them (omaha_request_params.cc, locksmithd.service). */
export const DEFAULT_FLATCAR_VENDOR_CONFIG = '/usr/share/flatcar/update.conf';
export const DEFAULT_FLATCAR_ETC_CONFIG = '/etc/flatcar/update.conf';
export const DEFAULT_FLATCAR_RELEASE = '/usr/share/flatcar/release';

/** locksmithd reads LOCKSMITHD_REBOOT_WINDOW_* first and REBOOT_WINDOW_* only without them (locksmithctl/daemon.go). */
const ALIASES: Record<string, ConfigKey> = {
  LOCKSMITHD_REBOOT_WINDOW_START: 'REBOOT_WINDOW_START',
  LOCKSMITHD_REBOOT_WINDOW_LENGTH: 'REBOOT_WINDOW_LENGTH',
};

/** What /usr/share/flatcar/release says about the running OS. */
export interface FlatcarRelease {
  file: string;
  version?: string;
  board?: string;
  appId?: string;
}
/** Environment variables that override a key are named ENV_PREFIX + KEY, e.g. ABUPDATE_SERVER. */
export const ENV_PREFIX = 'ABUPDATE_';

export type ConfigOrigin =
  | { source: 'default' }
  | { source: 'vendor' | 'etc' | 'flatcar-vendor' | 'flatcar-etc' | 'flatcar-release'; file: string; line: number; as?: string }
  | { source: 'env'; variable: string };

export interface LoadedConfig {
  values: ConfigValues;
  /** Where each value came from. */
  origins: Record<ConfigKey, ConfigOrigin>;
  /** Each value as written. */
  raw: Record<ConfigKey, string>;
  /** The files that were read (missing optional files are left out). */
  files: string[];
  /** Things worth saying that do not stop the service: keys of other programs in Flatcar's files, ignored keys. */
  warnings: string[];
  /** /usr/share/flatcar/release, when there is one. */
  flatcarRelease?: FlatcarRelease;
}

export interface LoadConfigOptions {
  /** Vendor defaults (default /usr/share/abupdate/update.conf, or $ABUPDATE_VENDOR_CONFIG); a missing file is fine. */
  vendorFile?: string;
  /** The admin's file (default /etc/abupdate/update.conf); a missing file is fine. */
  etcFile?: string;
  /** `--config FILE` (or $ABUPDATE_CONFIG): replaces the /etc file and must exist. */
  configFile?: string;
  /** Flatcar's files (defaults above, or $ABUPDATE_FLATCAR_VENDOR_CONFIG, $ABUPDATE_FLATCAR_CONFIG, $ABUPDATE_FLATCAR_RELEASE). */
  flatcarVendorFile?: string;
  flatcarEtcFile?: string;
  flatcarReleaseFile?: string;
  env?: NodeJS.ProcessEnv;
}

export function describeOrigin(origin: ConfigOrigin): string {
  if (origin.source === 'default') return 'default';
  if (origin.source === 'env') return `env ${origin.variable}`;
  return `${origin.file}:${origin.line}${origin.as === undefined ? '' : ` (${origin.as})`}`;
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
  const warnings: string[] = [];
  const flatcarVendorFile = options.flatcarVendorFile ?? nonEmpty(env.ABUPDATE_FLATCAR_VENDOR_CONFIG) ?? DEFAULT_FLATCAR_VENDOR_CONFIG;
  const flatcarEtcFile = options.flatcarEtcFile ?? nonEmpty(env.ABUPDATE_FLATCAR_CONFIG) ?? DEFAULT_FLATCAR_ETC_CONFIG;
  const flatcarReleaseFile = options.flatcarReleaseFile ?? nonEmpty(env.ABUPDATE_FLATCAR_RELEASE) ?? DEFAULT_FLATCAR_RELEASE;

  let flatcarRelease: FlatcarRelease | undefined;
  const releaseText = await readOptional(flatcarReleaseFile, false);
  if (releaseText !== undefined) {
    files.push(flatcarReleaseFile);
    flatcarRelease = { file: flatcarReleaseFile };
    for (const assignment of parseEnvFile(releaseText, flatcarReleaseFile)) {
      if (assignment.key === 'FLATCAR_RELEASE_VERSION') flatcarRelease.version = assignment.value;
      if (assignment.key === 'FLATCAR_RELEASE_BOARD') flatcarRelease.board = assignment.value;
      if (assignment.key === 'FLATCAR_RELEASE_APPID') {
        flatcarRelease.appId = assignment.value;
        raw.APP_ID = assignment.value;
        origins.APP_ID = { source: 'flatcar-release', file: flatcarReleaseFile, line: assignment.line, as: 'FLATCAR_RELEASE_APPID' };
      }
    }
  }

  for (const [file, source, required] of [
    [flatcarVendorFile, 'flatcar-vendor', false],
    [vendorFile, 'vendor', false],
    [flatcarEtcFile, 'flatcar-etc', false],
    [etcFile, 'etc', explicit !== undefined],
  ] as const) {
    const text = await readOptional(file, required);
    if (text === undefined) continue;
    files.push(file);
    const flatcar = source === 'flatcar-vendor' || source === 'flatcar-etc';
    // Aliases last, so that within one file LOCKSMITHD_REBOOT_WINDOW_* wins over REBOOT_WINDOW_* as in locksmithd.
    const assignments = parseEnvFile(text, file);
    const ordered = [...assignments.filter((a) => ALIASES[a.key] === undefined), ...assignments.filter((a) => ALIASES[a.key] !== undefined)];
    for (const assignment of ordered) {
      const alias = ALIASES[assignment.key];
      const name = alias ?? assignment.key;
      if (!isConfigKey(name)) {
        const suggestion = closestKey(assignment.key);
        if (flatcar) {
          // Flatcar's update.conf also feeds other programs (its whole environment goes to update_engine and locksmithd).
          warnings.push(`${file}:${assignment.line}: ignoring key "${assignment.key}", which abupdate does not use${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
          continue;
        }
        throw new UpdaterError('ERR_CONFIG', `Cannot use config ${file}:${assignment.line}: unknown key "${assignment.key}"`, {
          data: { file, line: assignment.line, key: assignment.key },
          hint: suggestion ? `Did you mean ${suggestion}? Known keys: ${CONFIG_KEY_NAMES.join(', ')}.` : `Known keys: ${CONFIG_KEY_NAMES.join(', ')}.`,
        });
      }
      raw[name] = assignment.value;
      origins[name] = { source, file, line: assignment.line, ...(alias === undefined ? {} : { as: assignment.key }) };
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
  const config: LoadedConfig = { values: values as ConfigValues, origins, raw, files, warnings, ...(flatcarRelease === undefined ? {} : { flatcarRelease }) };
  checkCombinations(config);
  if (config.values.PCR_POLICY_SERVER !== null) {
    warnings.push(`${where(origins.PCR_POLICY_SERVER)}: PCR_POLICY_SERVER is accepted but not supported (abupdate seals nothing to TPM PCRs); ignoring it`);
  }
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
