import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../fixtures/cli.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { acceptedOptions, commandHelp } from './command.js';
import { COMMANDS } from './commands.js';
import { COMMON_OPTION_NAMES, COMMON_OPTIONS, parseSpec } from './options.js';

/** The full set of common options, as one user would pass them to every command. */
async function commonArgs(dir: string): Promise<string[]> {
  const config = path.join(dir, 'update.conf');
  // Port 1 refuses at once: reboot-lock commands fail fast instead of reaching a real etcd.
  await writeFile(config, 'ETCD_ENDPOINTS=http://127.0.0.1:1\nSERVER=disabled\n');
  return [
    '--config', config,
    '--disk', path.join(dir, 'no-such-disk.img'),
    '--booted', 'A',
    '--bootloader', 'gptprio',
    '--grubenv', path.join(dir, 'grubenv'),
    '--state-dir', path.join(dir, 'state'),
    '--run-dir', path.join(dir, 'run'),
    '--keyring', path.join(dir, 'keys'),
    '--compatible', 'test-board',
    '--json',
  ];
}

test('every command accepts the full set of common options: none answers "Unknown option"', async (t) => {
  const dir = await makeTempDir(t);
  const common = await commonArgs(dir);
  assert.deepEqual(
    COMMON_OPTION_NAMES.filter((name) => !common.includes(`--${name}`)),
    [],
    'the test passes every common option',
  );
  for (const command of COMMANDS) {
    const result = await runCli([...command.name.split(' '), ...common], { env: { ABUPDATE_VENDOR_CONFIG: path.join(dir, 'none.conf') } });
    assert.doesNotMatch(result.stderr, /Unknown option|Cannot parse the options/, `abupdate ${command.name}: ${result.stderr}`);
  }
});

test('every option a command accepts appears in its --help, and every option its --help names is accepted', async () => {
  for (const entry of COMMANDS) {
    const command = await entry.load();
    const accepted = Object.keys(parseSpec(acceptedOptions(command)));
    const result = await runCli([...command.name.split(' '), '--help']);
    assert.equal(result.code, 0, command.name);
    assert.equal(result.stdout, `${commandHelp(command)}\n`);
    for (const name of accepted) {
      assert.match(result.stdout, new RegExp(`^  --${name}\\b`, 'm'), `abupdate ${command.name} --help lists --${name}`);
    }
    const named = new Set([...result.stdout.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1] as string));
    named.delete('help');
    for (const name of named) assert.ok(accepted.includes(name), `abupdate ${command.name} --help names --${name}, which it does not accept`);
  }
});

test('a command-specific option stays strict: other commands refuse it with ERR_USAGE', async () => {
  const status = await runCli(['status', '--tries', '2']);
  assert.equal(status.code, 2);
  assert.match(status.stderr, /Unknown option '--tries'.*\[ERR_USAGE\]/);
  const lockStatus = await runCli(['reboot-lock', 'status', '--id', 'host-1']);
  assert.equal(lockStatus.code, 2);
  assert.match(lockStatus.stderr, /Unknown option '--id'/);
  const keygen = await runCli(['keygen', '--image', 'x']);
  assert.equal(keygen.code, 2);
});

test('--help says which update.conf key a common option overrides', async () => {
  const help = await runCli(['status', '--help']);
  for (const [name, def] of Object.entries(COMMON_OPTIONS)) {
    if (!('overrides' in def)) continue;
    assert.match(help.stdout, new RegExp(`--${name} .*overrides ${def.overrides}`), name);
  }
});
