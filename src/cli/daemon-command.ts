// `abupdate daemon`: the on-host service (systemd runs it as abupdate.service).

import { isUpdaterError } from '../../common/errors.js';
import { runDaemon } from '../daemon/daemon.js';
import { systemBusAddress } from '../dbus/service.js';
import { createLogger } from '../log.js';
import { type Command } from './command.js';
import { buildServiceOptions, durationOption, SERVICE_OPTIONS } from './service-context.js';

/** sysexits.h EX_CONFIG: the exit status for a bad configuration. */
export const EX_CONFIG = 78;

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'the on-host service: check on a schedule, install, report, reboot per strategy',
  usage: 'abupdate daemon [--config FILE] [--disk PATH] [--booted A|B] [OPTIONS]',
  description: [
    'Checks SERVER (Omaha or a static channel, per PROTOCOL) a short random time after start and',
    'then every CHECK_INTERVAL with jitter (backing off on errors, or as the server asks), downloads',
    'and checks an offered bundle, installs it into the other slot, reports each step to the server,',
    'and applies REBOOT_STRATEGY. The control API listens on RUN_DIR/control.sock (root only) for',
    '"abupdate check", "abupdate update" and status. SIGTERM stops it cleanly; an interrupted',
    'download or install resumes after a restart. A bad update.conf stops it before it does anything.',
    'Logs go to stderr, with journald priority prefixes when JOURNAL_STREAM is set; with --json, one',
    'JSON object per line: {"time", "level", "message", "fields"}.',
    'Exit status: 0 after SIGTERM/SIGINT, 78 (EX_CONFIG) for a bad configuration, 1 for other errors.',
  ].join('\n'),
  options: {
    ...SERVICE_OPTIONS,
    'first-check-delay': { type: 'string', value: 'D', help: 'first check after D (default: random between 10s and 2m)' },
    json: { type: 'boolean', help: 'log JSON lines (a bad update.conf: its error as JSON on stdout)' },
  },
  async run(ctx) {
    const logger = createLogger({ stream: ctx.stderr, env: ctx.env, json: ctx.json });
    let options;
    try {
      options = await buildServiceOptions(ctx, logger);
    } catch (error) {
      // A bad update.conf exits with EX_CONFIG (78): abupdate.service does not restart on it (RestartPreventExitStatus).
      if (!isUpdaterError(error, 'ERR_CONFIG')) throw error;
      if (ctx.json) ctx.stdout.write(`${JSON.stringify({ error: error.toJSON() })}\n`);
      ctx.stderr.write(`abupdate: ${error.message} [${error.code}]\n`);
      if (error.hint) ctx.stderr.write(`abupdate: ${error.hint}\n`);
      return EX_CONFIG;
    }
    const first = durationOption(ctx, 'first-check-delay');
    const host = await ctx.host();
    await runDaemon({
      ...options,
      signal: ctx.signal,
      disk: () => host.engineDisk(),
      busAddress: systemBusAddress(ctx.env),
      ...(first === undefined ? {} : { scheduler: { initialDelayMs: { min: first, max: first } } }),
    });
    return 0;
  },
};
