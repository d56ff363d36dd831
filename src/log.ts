// Logging fit for journald: sd-daemon `<N>` priority prefixes when JOURNAL_STREAM is set, `level: message` otherwise;
// JSON lines on request (`abupdate daemon --json`).

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** syslog priorities as sd-daemon(3) prefixes expect them. */
const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  /** Where lines go (default process.stderr). */
  stream?: NodeJS.WritableStream;
  /** Looked at for JOURNAL_STREAM and ABUPDATE_LOG_LEVEL (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The lowest level written (default: ABUPDATE_LOG_LEVEL, else info). */
  level?: LogLevel;
  /** Force or suppress the journald prefixes (default: JOURNAL_STREAM is set). */
  journal?: boolean;
  /** One JSON object per line, `{time, level, message, fields?}` (after the journald prefix, if any). */
  json?: boolean;
}

export function isLogLevel(text: string | undefined): text is LogLevel {
  return text === 'error' || text === 'warn' || text === 'info' || text === 'debug';
}

/** `key=value` pairs after the message; values with spaces or quotes are JSON-quoted. */
export function formatFields(fields: LogFields | undefined): string {
  if (fields === undefined) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    parts.push(`${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`);
  }
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}

/** One log line, without the newline. Newlines inside the message are flattened so one event stays one journal entry. */
export function formatLogLine(level: LogLevel, message: string, fields: LogFields | undefined, journal: boolean): string {
  const text = `${message}${formatFields(fields)}`.replace(/\r?\n/g, ' | ');
  return journal ? `<${PRIORITY[level]}>${text}` : `${level}: ${text}`;
}

/** One JSON log line, without the newline: `{"time":ISO,"level":L,"message":M,"fields":{...}}` (no fields: no key). */
export function formatJsonLogLine(level: LogLevel, message: string, fields: LogFields | undefined, journal: boolean, time: Date): string {
  const defined = fields === undefined ? [] : Object.entries(fields).filter(([, v]) => v !== undefined);
  const entry = { time: time.toISOString(), level, message, ...(defined.length > 0 ? { fields: Object.fromEntries(defined) } : {}) };
  return `${journal ? `<${PRIORITY[level]}>` : ''}${JSON.stringify(entry)}`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const stream = options.stream ?? process.stderr;
  const journal = options.journal ?? (env.JOURNAL_STREAM !== undefined && env.JOURNAL_STREAM !== '');
  const envLevel = env.ABUPDATE_LOG_LEVEL;
  const threshold = PRIORITY[options.level ?? (isLogLevel(envLevel) ? envLevel : 'info')];
  const write = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (PRIORITY[level] > threshold) return;
    const line = options.json ? formatJsonLogLine(level, message, fields, journal, new Date()) : formatLogLine(level, message, fields, journal);
    stream.write(`${line}\n`);
  };
  return { error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') };
}

export interface MemoryLogger extends Logger {
  /** Every entry in order, for tests. */
  entries: { level: LogLevel; message: string; fields?: LogFields }[];
}

/** A logger that keeps entries in memory (tests, and callers that want to show them later). */
export function createMemoryLogger(): MemoryLogger {
  const entries: MemoryLogger['entries'] = [];
  const add = (level: LogLevel) => (message: string, fields?: LogFields) => {
    entries.push(fields === undefined ? { level, message } : { level, message, fields });
  };
  return { entries, error: add('error'), warn: add('warn'), info: add('info'), debug: add('debug') };
}
