// `abupdate config`: prints the effective update.conf and where each value came from.

import { report, type Command } from './command.js';
import { CONFIG_KEY_NAMES, REDACTED, isSecretKey } from '../config/keys.js';
import { describeOrigin, type LoadedConfig } from '../config/load-config.js';

export function configReportJson(config: LoadedConfig): unknown {
  const keys: Record<string, unknown> = {};
  for (const name of CONFIG_KEY_NAMES) {
    const hidden = isSecretKey(name) && config.raw[name] !== '';
    keys[name] = {
      value: hidden ? REDACTED : config.values[name],
      raw: hidden ? REDACTED : config.raw[name],
      origin: config.origins[name],
      from: describeOrigin(config.origins[name]),
    };
  }
  return { files: config.files, warnings: config.warnings, ...(config.flatcarRelease === undefined ? {} : { flatcarRelease: config.flatcarRelease }), keys };
}

export function configReportText(config: LoadedConfig): string {
  const shown = (name: (typeof CONFIG_KEY_NAMES)[number]) => (isSecretKey(name) && config.raw[name] !== '' ? REDACTED : config.raw[name]);
  const width = Math.max(...CONFIG_KEY_NAMES.map((name) => name.length + shown(name).length + 3));
  const lines = CONFIG_KEY_NAMES.map((name) => {
    const assignment = `${name}=${JSON.stringify(shown(name))}`;
    return `${assignment.padEnd(width)}  # ${describeOrigin(config.origins[name])}`;
  });
  const files = config.files.length === 0 ? '# no config file found; built-in defaults' : `# read: ${config.files.join(', ')}`;
  const release = config.flatcarRelease === undefined ? '' : `# Flatcar release: version ${config.flatcarRelease.version ?? '?'}, board ${config.flatcarRelease.board ?? '?'} (${config.flatcarRelease.file})\n`;
  return `${files}\n${release}${lines.join('\n')}\n`;
}

export const configCommand: Command = {
  name: 'config',
  summary: 'print the effective update.conf and where each value came from',
  usage: 'abupdate config [--config FILE] [--json]',
  description: [
    'Reads, each overriding the one before: /usr/share/flatcar/release (FLATCAR_RELEASE_APPID as',
    'APP_ID; version and board), /usr/share/flatcar/update.conf, /usr/share/abupdate/update.conf',
    '(vendor defaults), /etc/flatcar/update.conf, /etc/abupdate/update.conf (or --config FILE',
    'instead), then ABUPDATE_<KEY> environment variables, and prints every key with its value and',
    'origin (default, FILE:LINE or env VARIABLE). A bad value is an error that names the file, line,',
    'key and what is allowed. An unknown key is an error in abupdate\'s files and a warning in',
    'Flatcar\'s (they carry keys for other programs). Passwords are shown as (hidden).',
    '$ABUPDATE_VENDOR_CONFIG, $ABUPDATE_FLATCAR_VENDOR_CONFIG, $ABUPDATE_FLATCAR_CONFIG and',
    '$ABUPDATE_FLATCAR_RELEASE move those files.',
  ].join('\n'),
  async run(ctx) {
    const { config } = await ctx.host();
    for (const warning of config.warnings) ctx.stderr.write(`abupdate: warning: ${warning}\n`);
    report(ctx, configReportText(config), configReportJson(config));
    return 0;
  },
};
