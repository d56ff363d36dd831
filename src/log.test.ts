// Tests of the journald-aware logger: priority prefixes, plain lines, level threshold, one line per entry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { createLogger, createMemoryLogger } from './log.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const parts: Buffer[] = [];
  stream.on('data', (b: Buffer) => parts.push(b));
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

test('createLogger() writes sd-daemon priority prefixes when JOURNAL_STREAM is set', () => {
  const out = capture();
  const log = createLogger({ stream: out.stream, env: { JOURNAL_STREAM: '8:12345' }, level: 'debug' });
  log.error('Cannot check for updates', { code: 'ERR_NETWORK' });
  log.warn('slow server');
  log.info('update available', { version: '1.2.3' });
  log.debug('detail here');
  assert.equal(out.text(), '<3>Cannot check for updates code=ERR_NETWORK\n<4>slow server\n<6>update available version=1.2.3\n<7>detail here\n');
});

test('createLogger() writes plain "level: message" lines without JOURNAL_STREAM and drops levels below the threshold', () => {
  const out = capture();
  const log = createLogger({ stream: out.stream, env: {}, level: 'info' });
  log.debug('hidden');
  log.info('checking', { server: 'http://127.0.0.1:1/v1/update', note: 'two words' });
  log.error('line one\nline two');
  assert.equal(out.text(), 'info: checking server=http://127.0.0.1:1/v1/update note="two words"\nerror: line one | line two\n');
});

test('createLogger() takes its threshold from ABUPDATE_LOG_LEVEL', () => {
  const out = capture();
  const log = createLogger({ stream: out.stream, env: { ABUPDATE_LOG_LEVEL: 'warn' } });
  log.info('hidden');
  log.warn('shown');
  assert.equal(out.text(), 'warn: shown\n');
});

test('createLogger() in a child process with JOURNAL_STREAM writes prefixed lines to stderr', async () => {
  const script = "import { createLogger } from './src/log.ts'; createLogger().warn('from child');";
  const result = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { JOURNAL_STREAM: '9:1' },
  });
  assert.equal(result.stderr, '<4>from child');
});

test('createMemoryLogger() keeps entries in order with their fields', () => {
  const log = createMemoryLogger();
  log.info('a', { n: 1 });
  log.error('b');
  assert.deepEqual(log.entries, [
    { level: 'info', message: 'a', fields: { n: 1 } },
    { level: 'error', message: 'b' },
  ]);
});

test('createLogger({json}) writes one JSON object per line, after the journald prefix when there is one', () => {
  const out = capture();
  const log = createLogger({ stream: out.stream, env: {}, level: 'info', json: true });
  log.info('update available', { version: '1.2.3', size: 42, skipped: undefined });
  log.warn('two\nlines');
  log.debug('hidden');
  const lines = out.text().split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 2);
  const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.match(String(first?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual({ ...first, time: undefined }, { time: undefined, level: 'info', message: 'update available', fields: { version: '1.2.3', size: 42 } });
  assert.deepEqual({ ...second, time: undefined }, { time: undefined, level: 'warn', message: 'two\nlines' });
  const journal = capture();
  createLogger({ stream: journal.stream, env: { JOURNAL_STREAM: '8:1' }, json: true }).error('failed', { code: 'ERR_IO' });
  assert.match(journal.text(), /^<3>\{"time":"[^"]+","level":"error","message":"failed","fields":\{"code":"ERR_IO"\}\}\n$/);
});
