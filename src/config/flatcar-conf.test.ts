// Flatcar's update.conf files as Flatcar writes them: /usr/share/flatcar/release, /usr/share/flatcar/update.conf and
// /etc/flatcar/update.conf with Flatcar's precedence among abupdate's own files, `abupdate config` naming where each
// value came from, and a Flatcar update.conf copied from Flatcar's documentation through `config` and a daemon round.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../../common/errors.js';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, startDaemon, TEST_MACHINE_ID } from '../../fixtures/daemon-env.js';
import { makeRebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { FLATCAR_APP_ID } from '../omaha/events.js';
import { describeOrigin, loadConfig } from './load-config.js';

/**
 * Verbatim from Flatcar's "Update and reboot strategies" page (flatcar/flatcar-website
 * content/docs/latest/setup/releases/update-strategies.md, "Auto-updates with a maintenance window").
 */
const FLATCAR_DOCS_UPDATE_CONF = 'REBOOT_STRATEGY=reboot\nLOCKSMITHD_REBOOT_WINDOW_START="Thu 04:00"\nLOCKSMITHD_REBOOT_WINDOW_LENGTH=1h\n';

/** /usr/share/flatcar/release as a Flatcar image ships it (update-conf.md: "will typically contain"). */
const RELEASE = `FLATCAR_RELEASE_VERSION=1.0.0\nFLATCAR_RELEASE_BOARD=amd64-usr\nFLATCAR_RELEASE_APPID={${FLATCAR_APP_ID}}\n`;

async function files(t: Parameters<typeof makeTempDir>[0], content: { release?: string; flatcarVendor?: string; flatcarEtc?: string; vendor?: string; etc?: string }) {
  const dir = await makeTempDir(t);
  const p = {
    flatcarReleaseFile: path.join(dir, 'usr-share-flatcar-release'),
    flatcarVendorFile: path.join(dir, 'usr-share-flatcar-update.conf'),
    flatcarEtcFile: path.join(dir, 'etc-flatcar-update.conf'),
    vendorFile: path.join(dir, 'usr-share-abupdate-update.conf'),
    etcFile: path.join(dir, 'etc-abupdate-update.conf'),
  };
  if (content.release !== undefined) await writeFile(p.flatcarReleaseFile, content.release);
  if (content.flatcarVendor !== undefined) await writeFile(p.flatcarVendorFile, content.flatcarVendor);
  if (content.flatcarEtc !== undefined) await writeFile(p.flatcarEtcFile, content.flatcarEtc);
  if (content.vendor !== undefined) await writeFile(p.vendorFile, content.vendor);
  if (content.etc !== undefined) await writeFile(p.etcFile, content.etc);
  return p;
}

test('loadConfig() layers Flatcar\'s files with Flatcar\'s precedence among abupdate\'s and says where each value came from', async (t) => {
  const p = await files(t, {
    release: RELEASE,
    flatcarVendor: 'SERVER=https://public.update.flatcar-linux.net/v1/update/\nGROUP=stable\n',
    vendor: 'GROUP=beta\nCHECK_INTERVAL=1h\n',
    flatcarEtc: `${FLATCAR_DOCS_UPDATE_CONF}GROUP=alpha\nMACHINE_ALIAS=web-7\nREBOOT_WINDOW_START="Mon 01:00"\n`,
    etc: 'CHECK_INTERVAL=30m\n',
  });
  const config = await loadConfig({ ...p, env: {} });
  assert.equal(config.values.SERVER, 'https://public.update.flatcar-linux.net/v1/update/');
  assert.equal(describeOrigin(config.origins.SERVER), `${p.flatcarVendorFile}:1`);
  // /etc/flatcar over both vendor files; /etc/abupdate over /etc/flatcar.
  assert.equal(config.values.GROUP, 'alpha');
  assert.equal(describeOrigin(config.origins.GROUP), `${p.flatcarEtcFile}:4`);
  assert.equal(config.values.CHECK_INTERVAL, 30 * 60_000);
  assert.equal(config.values.REBOOT_STRATEGY, 'reboot');
  // LOCKSMITHD_REBOOT_WINDOW_START wins over REBOOT_WINDOW_START in the same file, as in locksmithd.
  assert.equal(config.values.REBOOT_WINDOW_START, 'Thu 04:00');
  assert.equal(describeOrigin(config.origins.REBOOT_WINDOW_START), `${p.flatcarEtcFile}:2 (LOCKSMITHD_REBOOT_WINDOW_START)`);
  assert.equal(config.values.REBOOT_WINDOW_LENGTH, 3_600_000);
  assert.equal(config.values.MACHINE_ALIAS, 'web-7');
  // The release file gives the app id (as APP_ID), the version and the board.
  assert.equal(config.values.APP_ID, `{${FLATCAR_APP_ID}}`);
  assert.equal(describeOrigin(config.origins.APP_ID), `${p.flatcarReleaseFile}:3 (FLATCAR_RELEASE_APPID)`);
  assert.deepEqual(config.flatcarRelease, { file: p.flatcarReleaseFile, version: '1.0.0', board: 'amd64-usr', appId: `{${FLATCAR_APP_ID}}` });
  assert.deepEqual(config.files, [p.flatcarReleaseFile, p.flatcarVendorFile, p.vendorFile, p.flatcarEtcFile, p.etcFile]);
  assert.deepEqual(config.warnings, []);
});

test('loadConfig(): an unknown key in a Flatcar file is a warning; in abupdate\'s own file it stops with "did you mean"', async (t) => {
  const p = await files(t, { flatcarEtc: 'GROUP=stable\nFLUO_DRAIN_TIMEOUT=5m\nREBOOT_STRATEGIE=off\n', etc: '' });
  const config = await loadConfig({ ...p, env: {} });
  assert.deepEqual(config.warnings, [
    `${p.flatcarEtcFile}:2: ignoring key "FLUO_DRAIN_TIMEOUT", which abupdate does not use`,
    `${p.flatcarEtcFile}:3: ignoring key "REBOOT_STRATEGIE", which abupdate does not use (did you mean REBOOT_STRATEGY?)`,
  ]);
  assert.equal(config.values.REBOOT_STRATEGY, 'reboot', 'the misspelt key changed nothing');
  await writeFile(p.etcFile, 'REBOOT_STRATEGIE=off\n');
  await assert.rejects(loadConfig({ ...p, env: {} }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_CONFIG'));
    assert.match(error.message, /unknown key "REBOOT_STRATEGIE"/);
    assert.match(error.hint ?? '', /^Did you mean REBOOT_STRATEGY\?/);
    return true;
  });
  // A bad value in a Flatcar file is still an error naming file and line: a wrong strategy must not pass silently.
  await writeFile(p.etcFile, '');
  await writeFile(p.flatcarEtcFile, 'REBOOT_STRATEGY=sometimes\n');
  await assert.rejects(loadConfig({ ...p, env: {} }), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG') && error.message.includes(`${p.flatcarEtcFile}:1: REBOOT_STRATEGY="sometimes"`));
});

test('abupdate config with the update.conf from Flatcar\'s documentation: exit 0, every value with its origin, PCR_POLICY_SERVER warned', async (t) => {
  const p = await files(t, { release: RELEASE, flatcarEtc: `${FLATCAR_DOCS_UPDATE_CONF}PCR_POLICY_SERVER=https://pcr.example/policy\nDOWNLOAD_PASSWORD=pw-4f1e\nDOWNLOAD_USER=u\n` });
  const env = {
    ABUPDATE_VENDOR_CONFIG: p.vendorFile,
    ABUPDATE_FLATCAR_VENDOR_CONFIG: p.flatcarVendorFile,
    ABUPDATE_FLATCAR_CONFIG: p.flatcarEtcFile,
    ABUPDATE_FLATCAR_RELEASE: p.flatcarReleaseFile,
  };
  const ok = await runCli(['config'], { env: { ...env } });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`REBOOT_STRATEGY="reboot" +# ${p.flatcarEtcFile.replace(/[.]/g, '\\.')}:1\n`));
  assert.match(ok.stdout, /REBOOT_WINDOW_START="Thu 04:00" +# .*:2 \(LOCKSMITHD_REBOOT_WINDOW_START\)/);
  assert.match(ok.stdout, /REBOOT_WINDOW_LENGTH="1h" +# .*:3 \(LOCKSMITHD_REBOOT_WINDOW_LENGTH\)/);
  assert.match(ok.stdout, /# Flatcar release: version 1\.0\.0, board amd64-usr/);
  assert.match(ok.stdout, /DOWNLOAD_PASSWORD="\(hidden\)"/);
  assert.match(ok.stderr, /warning: .*PCR_POLICY_SERVER is accepted but not supported/);
  assert.ok(!ok.stdout.includes('pw-4f1e') && !ok.stderr.includes('pw-4f1e'));
  const json = await runCli(['config', '--json'], { env });
  assert.equal(json.json().keys.REBOOT_WINDOW_START.from, `${p.flatcarEtcFile}:2 (LOCKSMITHD_REBOOT_WINDOW_START)`);
  assert.equal(json.json().flatcarRelease.version, '1.0.0');
});

test('a daemon round on a host configured by Flatcar\'s files: their SERVER, GROUP, app id, version, alias; the documented update.conf', async (t) => {
  // The test server serves Flatcar's app id (as Nebraska's Flatcar application).
  const env = await makeDaemonEnv(t, await makeTempDir(t), {}, { appId: `{${FLATCAR_APP_ID}}` });
  const recorder = await makeRebootRecorder(env.dir);
  // abupdate's own file keeps only what Flatcar has no key for (slots, state, keys); REBOOT_COMMAND never reboots the test host.
  await env.writeConfig({ REBOOT_COMMAND: recorder.command('flatcar-host').join(' ') });
  const own = (await readFile(env.configPath, 'utf8')).split('\n').filter((l) => !/^(SERVER|GROUP|REBOOT_STRATEGY|APP_ID)=/.test(l)).join('\n');
  await writeFile(env.configPath, own);
  const flatcarVendor = path.join(env.dir, 'flatcar-vendor.conf');
  const flatcarEtc = path.join(env.dir, 'flatcar-etc.conf');
  const release = path.join(env.dir, 'flatcar-release');
  await writeFile(flatcarVendor, `SERVER=${env.omaha.url}\nGROUP=stable\n`);
  await writeFile(flatcarEtc, `${FLATCAR_DOCS_UPDATE_CONF}MACHINE_ALIAS=flatcar-7\n`);
  await writeFile(release, RELEASE);
  const flatcarEnv = { ...env.env, ABUPDATE_FLATCAR_VENDOR_CONFIG: flatcarVendor, ABUPDATE_FLATCAR_CONFIG: flatcarEtc, ABUPDATE_FLATCAR_RELEASE: release };
  const scene = { ...env, env: flatcarEnv, flags: env.flags.filter((f, i, all) => f !== '--current-version' && all[i - 1] !== '--current-version') };

  const config = await runCli(['config', '--config', env.configPath], { env: flatcarEnv });
  assert.equal(config.code, 0, config.stderr);
  const daemon = await startDaemon(t, scene);
  await waitFor('the first check', () => env.omaha.requests.length >= 1);
  const first = env.omaha.requests[0];
  assert.equal(first?.app.track, 'stable');
  assert.equal(first?.app.appid, `{${FLATCAR_APP_ID}}`, 'the app id of /usr/share/flatcar/release');
  assert.equal(first?.app.version, '1.0.0', 'the version of /usr/share/flatcar/release');
  assert.equal(first?.app.board, 'amd64-usr');
  assert.equal(first?.app.machinealias, 'flatcar-7', 'MACHINE_ALIAS goes out as machinealias');
  assert.equal(first?.app.machineid, TEST_MACHINE_ID);

  // Omaha's app id for the server is Flatcar's: install reports 3/1, as update_engine does.
  env.omaha.setPackage({ ...omahaPackageFor(env) });
  const update = await runCli(['update', ...scene.flags, '--json'], { env: flatcarEnv });
  assert.equal(update.code, 0, update.stderr);
  assert.equal(update.json().outcome, 'installed');
  assert.deepEqual(env.omaha.events.map((e) => `${e.type}/${e.result}`), ['13/1', '14/1', '3/1']);
  const stopped = await daemon.stop();
  assert.equal(stopped.code, 0, stopped.stderr);
  // REBOOT_STRATEGY=reboot with the documented window: it waits for Thursday 04:00 unless it is that hour now.
  assert.match(stopped.stderr, /reboot: (waiting .* for the reboot window|running )/);
});
