// `abupdate config`: prints the effective update.conf and where each value came from.

import { COMMON_HELP, COMMON_OPTIONS, report, stringOption, type Command, type OptionValues } from './command.js';
import { CONFIG_KEY_NAMES } from '../config/keys.js';
import { describeOrigin, loadConfig, type LoadedConfig } from '../config/load-config.js';

/** Loads the config the way every command does: --config FILE, else $ABUPDATE_CONFIG, else the default files. */
export async function loadConfigForCommand(values: OptionValues, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  const configFile = stringOption(values, 'config');
  return loadConfig(configFile === undefined ? { env } : { env, configFile });
}

export function configReportJson(config: LoadedConfig): unknown {
  const keys: Record<string, unknown> = {};
  for (const name of CONFIG_KEY_NAMES) {
    keys[name] = { value: config.values[name], raw: config.raw[name], origin: config.origins[name], from: describeOrigin(config.origins[name]) };
  }
  return { files: config.files, keys };
}

export function configReportText(config: LoadedConfig): string {
  const width = Math.max(...CONFIG_KEY_NAMES.map((name) => name.length + config.raw[name].length + 3));
  const lines = CONFIG_KEY_NAMES.map((name) => {
    const assignment = `${name}=${JSON.stringify(config.raw[name])}`;
    return `${assignment.padEnd(width)}  # ${describeOrigin(config.origins[name])}`;
  });
  const files = config.files.length === 0 ? '# no config file found; built-in defaults' : `# read: ${config.files.join(', ')}`;
  return `${files}\n${lines.join('\n')}\n`;
}

export const configCommand: Command = {
  name: 'config',
  summary: 'print the effective update.conf and where each value came from',
  help: [
    'Usage: abupdate config [--config FILE] [--json]',
    '',
    'Reads /usr/share/abupdate/update.conf (vendor defaults), then /etc/abupdate/update.conf',
    '(or --config FILE instead), then ABUPDATE_<KEY> environment variables, and prints every key',
    'with its value and origin (default, FILE:LINE or env VARIABLE). A bad value is an error that',
    'names the file, line, key and what is allowed. $ABUPDATE_VENDOR_CONFIG moves the vendor file.',
    '',
    'Options:',
    COMMON_HELP.config,
    COMMON_HELP.json,
  ].join('\n'),
  options: { json: COMMON_OPTIONS.json, config: COMMON_OPTIONS.config },
  async run(ctx) {
    const config = await loadConfigForCommand(ctx.values, ctx.env);
    report(ctx, configReportText(config), configReportJson(config));
    return 0;
  },
};
