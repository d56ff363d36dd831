// The update server and payload over HTTPS on 127.0.0.1 with a test CA (openssl): SERVER_CAFILE, mutual TLS with
// SERVER_CERTFILE/SERVER_KEYFILE, DOWNLOAD_USER/DOWNLOAD_PASSWORD basic auth on the payload. A wrong CA, an expired
// certificate or a wrong password is a typed error, nothing falls back to plain HTTP, and no secret is ever printed.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { runCli, type CliResult } from '../../fixtures/cli.js';
import { makeDaemonEnv, startDaemon, type DaemonEnv } from '../../fixtures/daemon-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { startHttpsProxy, type HttpsProxy } from '../../fixtures/https-proxy.js';
import { makeTestPki } from '../../fixtures/tls.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { loadEngineState } from '../engine/state-store.js';

const pki = await makeTestPki({ after });
const DOWNLOAD_PASSWORD = 'dl-pw-3b9f-very-secret';
const ETCD_PASSWORD = 'etcd-pw-77c1-very-secret';

interface HttpsScene {
  env: DaemonEnv;
  omahaTls: HttpsProxy;
  payloadTls: HttpsProxy;
}

async function scene(t: Parameters<typeof makeDaemonEnv>[0], options: { expired?: boolean; password?: string } = {}): Promise<HttpsScene> {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const omahaTls = await startHttpsProxy(t, pki, new URL(env.omaha.url).origin, { requireClientCert: true, ...(options.expired ? { expired: true } : {}) });
  const payloadTls = await startHttpsProxy(t, pki, env.server.origin, { requireClientCert: true, basicAuth: { username: 'fleet', password: DOWNLOAD_PASSWORD } });
  env.omaha.setPackage({ version: '2.0.0', urlBase: payloadTls.origin, name: 'bundle.tar', size: env.bundleSize, sha256: env.bundleSha256Base64 });
  await env.writeConfig({
    SERVER: `${omahaTls.origin}/v1/update/`,
    SERVER_CAFILE: pki.caFile,
    SERVER_CERTFILE: pki.clientCertFile,
    SERVER_KEYFILE: pki.clientKeyFile,
    DOWNLOAD_USER: 'fleet',
    DOWNLOAD_PASSWORD: options.password ?? DOWNLOAD_PASSWORD,
    LOCKSMITHD_ETCD_USERNAME: 'abupdate',
    LOCKSMITHD_ETCD_PASSWORD: ETCD_PASSWORD,
  });
  return { env, omahaTls, payloadTls };
}

function assertNoSecrets(...outputs: (string | CliResult)[]): void {
  for (const output of outputs) {
    const text = typeof output === 'string' ? output : `${output.stdout}\n${output.stderr}`;
    for (const secret of [DOWNLOAD_PASSWORD, ETCD_PASSWORD, Buffer.from(`fleet:${DOWNLOAD_PASSWORD}`).toString('base64')]) {
      assert.ok(!text.includes(secret), `a secret was printed: ${text.slice(0, 2000)}`);
    }
  }
}

test('update over HTTPS with the test CA, a client certificate and basic auth on the payload installs 2.0.0', async (t) => {
  const { env, omahaTls, payloadTls } = await scene(t);
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  assert.equal(update.json().outcome, 'installed');
  assert.equal((await loadEngineState(env.stateDir)).slots.B?.version, '2.0.0');
  // Every request went over TLS with our client certificate; the payload ones with the user and password.
  assert.ok(omahaTls.requests.length >= 2 && omahaTls.requests.every((r) => r.authorized && r.clientCn === 'abupdate-client'));
  assert.ok(payloadTls.requests.length >= 1 && payloadTls.requests.every((r) => r.authorized && r.status !== 401));
  assert.ok(payloadTls.requests.some((r) => r.status === 200 || r.status === 206));
  const config = await runCli(['config', '--config', env.configPath], { env: env.env });
  const configJson = await runCli(['config', '--config', env.configPath, '--json'], { env: env.env });
  assert.match(config.stdout, /DOWNLOAD_PASSWORD="\(hidden\)"/);
  assert.equal(configJson.json().keys.LOCKSMITHD_ETCD_PASSWORD.value, '(hidden)');
  const status = await runCli(['status', ...env.flags.filter((f) => !f.startsWith('--current') && f !== '1.0.0' && !f.startsWith('--boot-id') && f !== env.bootIdPath), '--json'], { env: env.env });
  assertNoSecrets(update, config, configJson, status);
});

test('update against an HTTPS server whose certificate is not from SERVER_CAFILE is ERR_TLS, and nothing is tried over plain HTTP', async (t) => {
  const { env, omahaTls } = await scene(t);
  await env.writeConfig({
    SERVER: `${omahaTls.origin}/v1/update/`,
    SERVER_CAFILE: pki.otherCaFile,
    SERVER_CERTFILE: pki.clientCertFile,
    SERVER_KEYFILE: pki.clientKeyFile,
  });
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 1);
  assert.equal(update.json().error.code, 'ERR_TLS', update.stdout);
  assert.match(update.json().error.message, /failed TLS verification: its certificate is not signed by a trusted CA/);
  assert.equal(omahaTls.requests.length, 0, 'no request got through');
  assert.equal(env.omaha.requests.length, 0, 'and none reached the server by plain HTTP');
  assert.equal((await loadEngineState(env.stateDir)).state, 'IDLE');
});

test('update against an HTTPS server with an expired certificate is ERR_TLS saying it expired', async (t) => {
  const { env } = await scene(t, { expired: true });
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 1);
  assert.equal(update.json().error.code, 'ERR_TLS');
  assert.match(update.json().error.message, /its certificate has expired \(CERT_HAS_EXPIRED\)/);
  assert.equal(env.omaha.requests.length, 0);
});

test('update without the client certificate is refused by the mTLS server: ERR_TLS about our certificate', async (t) => {
  const { env, omahaTls } = await scene(t);
  await env.writeConfig({ SERVER: `${omahaTls.origin}/v1/update/`, SERVER_CAFILE: pki.caFile });
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 1);
  assert.equal(update.json().error.code, 'ERR_TLS', update.stdout);
  assert.equal(env.omaha.requests.length, 0);
});

test('a wrong DOWNLOAD_PASSWORD is ERR_AUTH: nothing is written to slot B, and the password is in no output', async (t) => {
  const wrong = 'wrong-dl-pw-51aa';
  const { env, payloadTls } = await scene(t, { password: wrong });
  const before = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 1);
  assert.equal(update.json().error.code, 'ERR_AUTH', update.stdout);
  assert.match(update.json().error.message, /HTTP 401 \(it refused the user "fleet"\)/);
  assert.ok(payloadTls.requests.every((r) => r.status === 401));
  assert.deepEqual(await cgptFlags(env.disk.path, env.disk.slots.B.partition), before, 'slot B flags unchanged');
  assert.notEqual((await loadEngineState(env.stateDir)).slots.B?.version, '2.0.0');
  // The error reached the server as a 3/0 event, and no output carries either password.
  assert.ok(env.omaha.events.some((e) => e.type === 3 && e.result === 0));
  assertNoSecrets(update, update.stdout.replaceAll(wrong, '<wrong>'));
  assert.ok(!`${update.stdout}${update.stderr}`.includes(wrong), 'the wrong password is not shown either');
});

test('the daemon log and status over HTTPS carry no secret', async (t) => {
  const { env } = await scene(t);
  const daemon = await startDaemon(t, env);
  await waitFor('the first check', () => env.omaha.requests.length >= 1);
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  const stopped = await daemon.stop();
  assert.equal(stopped.code, 0, stopped.stderr);
  const state = await readFile(`${env.stateDir}/state.json`, 'utf8').catch(() => '');
  assertNoSecrets(update, stopped, state);
});

test('abupdate install https://... uses the same SERVER_CAFILE, client certificate and DOWNLOAD_USER as the daemon', async (t) => {
  const { env, payloadTls } = await scene(t);
  const url = `${payloadTls.origin}/bundle.tar`;
  const installed = await runCli(['install', url, '--config', env.configPath, ...env.options, '--json'], { env: env.env });
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal((await loadEngineState(env.stateDir)).slots.B?.version, '2.0.0');
  assert.ok(payloadTls.requests.every((r) => r.authorized && r.status !== 401));
  await env.writeConfig({ SERVER_CAFILE: pki.otherCaFile, SERVER_CERTFILE: pki.clientCertFile, SERVER_KEYFILE: pki.clientKeyFile });
  const refused = await runCli(['install', url, '--config', env.configPath, ...env.options, '--json'], { env: env.env });
  assert.equal(refused.code, 1);
  assert.equal(refused.json().error.code, 'ERR_TLS');
  assertNoSecrets(installed, refused);
});
