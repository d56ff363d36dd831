// The update.conf keys: default, meaning and parser of each. docs/service.md has the same table for people.

import {
  absolutePath,
  absolutePathList,
  commandLine,
  duration,
  httpUrl,
  httpUrlList,
  oneOf,
  token,
  wholeNumber,
  wordList,
  type ValueParser,
} from './value-parsers.js';
import { parseWindowStart } from './window-start.js';

export interface KeySpec<T> {
  /** The default, written as in update.conf. */
  default: string;
  /** One line for `abupdate config --help` and docs. */
  meaning: string;
  parser: ValueParser<T>;
}

function key<T>(defaultText: string, meaning: string, parser: ValueParser<T>): KeySpec<T> {
  return { default: defaultText, meaning, parser };
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Our own Omaha app id (Flatcar's is e96281a6-...; a Nebraska app for abupdate hosts gets this one by default). */
export const DEFAULT_APP_ID = '{3b0b1d5e-6a57-4c61-9f0e-5f7a2b8c9d41}';

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/** REBOOT_WINDOW_START, checked by the reboot window's own parser; the value stays text for parseRebootWindow(). */
function windowStart(): ValueParser<string | null> {
  return {
    allowed: 'a time "HH:MM" with an optional weekday before it ("Thu 04:00", "thursday 4:00"), or empty (unset)',
    parse: (text) => (text === '' ? null : parseWindowStart(text) === undefined ? { invalid: true, why: 'is not a window start' } : text),
  };
}

/** An optional comma-separated URL list (LOCKSMITHD_ENDPOINT): empty is unset. */
function optionalUrlList(): ValueParser<string[] | null> {
  const list = httpUrlList();
  return { allowed: `${list.allowed}, or empty (unset)`, parse: (text) => (text.trim() === '' ? null : list.parse(text)) };
}

/** Free text up to 1 KiB without control characters (user names, passwords, aliases); empty is unset. */
function optionalText(what: string): ValueParser<string | null> {
  return token(/^[^\x00-\x1f\x7f]{1,1024}$/, what, { optional: true });
}

const FLEETLOCK_GROUP_PATTERN = /^[a-zA-Z0-9.-]+$/;

export const CONFIG_KEYS = {
  SERVER: key('disabled', 'Update server: the Omaha endpoint, or for PROTOCOL=static the base URL of the channel index; "disabled" turns checking off', httpUrl({ disabled: true })),
  GROUP: key('stable', 'Omaha track, or the static channel name (the index is SERVER/GROUP.json)', token(/^[A-Za-z0-9][A-Za-z0-9._:{}-]{0,127}$/, 'a group or channel name (letters, digits, . _ : - { })')),
  COMPATIBLE: key('', "The host's compatible string; a bundle must name the same (needed by install, check, update and the daemon unless --compatible is given)", token(/^[\x21-\x7e]{1,256}$/, 'a printable string without spaces', { optional: true })),
  PROTOCOL: key('omaha', 'How updates are found: an Omaha v3 server (Nebraska) or a signed static channel index', oneOf(['omaha', 'static'] as const)),
  BOOTLOADER: key('gptprio', 'Boot control backend: GPT priority bits, a GRUB environment block (abupdate\'s counted tries), or grubenv-rauc (RAUC\'s GRUB script)', oneOf(['gptprio', 'grubenv', 'grubenv-rauc'] as const)),
  GRUBENV: key('/boot/grub/grubenv', 'The GRUB environment block (BOOTLOADER=grubenv)', absolutePath()),
  DISK: key('', 'The disk with the slots (empty: the disk of the booted root)', absolutePath({ optional: true })),
  REBOOT_STRATEGY: key('reboot', 'What happens once an update is installed (locksmith\'s values, and fleetlock); best-effort: etcd-lock if etcd answers, else reboot', oneOf(['reboot', 'off', 'etcd-lock', 'best-effort', 'fleetlock'] as const)),
  REBOOT_WINDOW_START: key('', 'Start of the reboot window, "Thu 04:00" or "04:00" (every day); empty: any time', windowStart()),
  REBOOT_WINDOW_LENGTH: key('', 'Length of the reboot window, with REBOOT_WINDOW_START', duration(MINUTE, 7 * 24 * HOUR, { optional: true })),
  REBOOT_COMMAND: key('systemctl reboot', 'The command that reboots the host (no shell)', commandLine()),
  ETCD_ENDPOINTS: key('http://127.0.0.1:2379', 'etcd endpoints for REBOOT_STRATEGY=etcd-lock', httpUrlList()),
  FLEET_STATUS: key('off', 'Publish this host in the fleet view: "etcd" keeps its status under FLEET_PREFIX/hosts/<machine id> and obeys the group\'s pause and gate', oneOf(['off', 'etcd'] as const)),
  FLEET_PREFIX: key('abupdate/fleet', 'The etcd key prefix of the fleet view (hosts, group switches, rollbacks, history)', token(/^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/, 'etcd key path segments of letters, digits, . _ - joined by /')),
  FLEET_LEASE_TTL: key('30s', 'TTL of the lease this host\'s fleet entry is bound to (renewed every third of it): a host that dies leaves the fleet view this long after', duration(5 * SECOND, 10 * MINUTE)),
  ETCD_API: key('v3', 'The etcd API of the reboot lock: v3, or v2 to share the lock with locksmithd hosts (etcd with --enable-v2)', oneOf(['v3', 'v2'] as const)),
  LOCKSMITHD_ENDPOINT: key('', 'locksmith\'s name for the etcd endpoints; when set it replaces ETCD_ENDPOINTS', optionalUrlList()),
  LOCKSMITHD_ETCD_CAFILE: key('', 'CA bundle that signed etcd\'s certificate (https endpoints)', absolutePath({ optional: true })),
  LOCKSMITHD_ETCD_CERTFILE: key('', 'Client certificate for etcd (with LOCKSMITHD_ETCD_KEYFILE)', absolutePath({ optional: true })),
  LOCKSMITHD_ETCD_KEYFILE: key('', 'Private key of LOCKSMITHD_ETCD_CERTFILE', absolutePath({ optional: true })),
  LOCKSMITHD_ETCD_USERNAME: key('', 'etcd user for the reboot lock (etcd authentication)', optionalText('a user name')),
  LOCKSMITHD_ETCD_PASSWORD: key('', 'Password of LOCKSMITHD_ETCD_USERNAME (never shown)', optionalText('a password')),
  LOCKSMITHD_GROUP: key('', 'Reboot-lock group in etcd (empty: locksmith\'s ungrouped key)', optionalText('a group name')),
  FLEETLOCK_URL: key('', 'FleetLock server for REBOOT_STRATEGY=fleetlock (a base with a path needs its trailing slash, as in zincati)', httpUrl({ optional: true })),
  FLEETLOCK_GROUP: key('default', 'FleetLock group (zincati\'s identity group)', token(FLEETLOCK_GROUP_PATTERN, 'letters, digits, "." and "-"')),
  SERVER_CAFILE: key('', 'CA bundle for an https update server and payload (instead of the system CAs)', absolutePath({ optional: true })),
  SERVER_CERTFILE: key('', 'Client certificate for mutual TLS to the update server and payload (with SERVER_KEYFILE)', absolutePath({ optional: true })),
  SERVER_KEYFILE: key('', 'Private key of SERVER_CERTFILE', absolutePath({ optional: true })),
  DOWNLOAD_USER: key('', 'HTTP basic auth user for the payload download (update_engine\'s DOWNLOAD_USER)', optionalText('a user name')),
  DOWNLOAD_PASSWORD: key('', 'Password of DOWNLOAD_USER (never shown)', optionalText('a password')),
  MACHINE_ALIAS: key('', 'A name for this host, sent to Omaha as machinealias (Nebraska shows it)', optionalText('a name')),
  PCR_POLICY_SERVER: key('', 'Flatcar\'s TPM PCR policy server: accepted and ignored (abupdate does not seal to PCRs), with a warning', optionalText('a URL')),
  CHECK_INTERVAL: key('45m', 'Time between update checks (each with jitter of up to a quarter of it)', duration(10 * SECOND, 7 * 24 * HOUR)),
  APP_ID: key(DEFAULT_APP_ID, 'The Omaha app id of this OS (a UUID, braces optional, or a product id)', token(new RegExp(`^(?:\\{${UUID}\\}|${UUID}|[A-Za-z][A-Za-z0-9._-]{0,127})$`), 'a UUID (with or without braces) or a product id like io.example.os')),
  DOWNLOAD_SPEED_LIMIT: key('16384', 'Bytes per second a download must average (while waiting for data) over DOWNLOAD_SPEED_TIME, else ERR_NETWORK_SLOW (progress kept); 0 turns it off', wholeNumber(0, 10 * 1024 * 1024 * 1024, 'bytes per second')),
  DOWNLOAD_SPEED_TIME: key('5m', 'How long a download may stay below DOWNLOAD_SPEED_LIMIT', duration(SECOND, 24 * HOUR)),
  ROUND_TIMEOUT: key('6h', "Deadline of one daemon round (check, download, install): a round still running then is stopped (ERR_TIMEOUT), its progress kept", duration(MINUTE, 7 * 24 * HOUR)),
  HEALTH_DIR: key('/etc/abupdate/health.d', 'Directory of executable health checks run after a reboot into a new slot', absolutePath()),
  HEALTH_TIMEOUT: key('5m', 'How long the post-boot health check may take before it counts as failed', duration(SECOND, 24 * HOUR)),
  HEALTH_UNITS: key('', 'systemd units that must be active for the new slot to be committed', wordList(/^[A-Za-z0-9:_.\\@-]+\.(?:service|target|mount|socket|timer|path|device|swap|scope|slice)$/, 'systemd unit names like sshd.service')),
  STATE_DIR: key('/var/lib/abupdate', 'Engine state (progress, versions, last error)', absolutePath()),
  RUN_DIR: key('/run/abupdate', 'Lock file and control socket', absolutePath()),
  KEYRING_DIRS: key('/etc/abupdate/keys.d /usr/share/abupdate/keys.d', 'Directories of trusted *.pub keys', absolutePathList()),
  REBOOT_SENTINEL: key('/run/reboot-required', "Created while an installed update waits for its reboot (kured's sentinel, as Flatcar's postinstall); empty: none", absolutePath({ optional: true })),
  METRICS_TEXTFILE: key('/var/lib/node_exporter/textfile/abupdate.prom', "node_exporter textfile the daemon keeps its metrics in (written only where the directory exists); empty: none", absolutePath({ optional: true })),
  MACHINE_ID_PATH: key('/etc/machine-id', 'The machine id reported to the server and used as reboot-lock holder', absolutePath()),
} as const;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Keys whose values are secrets: never printed by `config`, in logs, status or error messages. */
export const SECRET_KEYS: readonly ConfigKey[] = ['DOWNLOAD_PASSWORD', 'LOCKSMITHD_ETCD_PASSWORD'];

/** What `config` and errors show instead of a secret's value. */
export const REDACTED = '(hidden)';

export function isSecretKey(name: string): boolean {
  return (SECRET_KEYS as readonly string[]).includes(name);
}

type Valid<T> = T extends { invalid: true } ? never : T;

/** The typed value of every key (durations in milliseconds; unset optional values are null). */
export type ConfigValues = {
  [K in ConfigKey]: Valid<ReturnType<(typeof CONFIG_KEYS)[K]['parser']['parse']>>;
};

export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

export function isConfigKey(name: string): name is ConfigKey {
  return Object.hasOwn(CONFIG_KEYS, name);
}

/** The known key closest to a mistyped one (edit distance at most 2), for "did you mean". */
export function closestKey(name: string): ConfigKey | undefined {
  let best: { key: ConfigKey; distance: number } | undefined;
  for (const candidate of CONFIG_KEY_NAMES) {
    const distance = editDistance(name.toUpperCase(), candidate);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
