// The etcd client against Debian's etcd serving TLS with client-certificate auth, and with etcd's user/password
// authentication on: the right CA, certificate and password work; a wrong CA, an expired certificate and a wrong
// password are refused with typed errors that name the problem and never the password.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpdaterError, type UpdaterError } from '../../common/errors.js';
import { enableEtcdAuth, etcdctl, useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { makeTestPki, type TestPki } from '../../fixtures/tls.js';
import { EtcdClient } from './etcd-client.js';
import { runCli } from '../../fixtures/cli.js';
import { lockSemaphore, readSemaphore, semaphoreKey, SEMAPHORE_PREFIX, unlockSemaphore } from './etcd-semaphore.js';

const PASSWORD = 'S3cret-etcd-pw-7f1c';
const ROOT_PASSWORD = 'r00t-pw-for-the-test-9a2e';
const WRONG_PASSWORD = 'not-the-password-44b0';

const pki: TestPki = await makeTestPki({ after });
const getTls = useEtcdForFile({ tls: pki });
const getAuth = useEtcdForFile({ tls: pki, clientCertAuth: false });
let tlsEtcd: EtcdCluster;
let authEtcd: EtcdCluster;

before(async () => {
  tlsEtcd = await getTls();
  authEtcd = await getAuth();
  await enableEtcdAuth(authEtcd, { user: 'abupdate', password: PASSWORD, rootPassword: ROOT_PASSWORD, prefix: SEMAPHORE_PREFIX });
});

function noSecrets(error: UpdaterError): void {
  const text = `${error.message} ${error.hint ?? ''} ${JSON.stringify(error.toJSON())}`;
  for (const secret of [PASSWORD, ROOT_PASSWORD, WRONG_PASSWORD]) assert.ok(!text.includes(secret), `the error shows a password: ${text}`);
}

test('EtcdClient over TLS with the test CA and a client certificate takes and releases the reboot lock (etcdctl sees it)', async () => {
  assert.match(tlsEtcd.endpoints[0] ?? '', /^https:\/\/127\.0\.0\.1:/);
  const client = new EtcdClient({ endpoints: tlsEtcd.endpoints, tls: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile } });
  await lockSemaphore({ client, group: 'tls' }, 'host-a');
  assert.equal(await etcdctl(tlsEtcd, ['get', '--print-value-only', semaphoreKey('tls')]), '{"semaphore":0,"max":1,"holders":["host-a"]}');
  assert.equal((await unlockSemaphore({ client, group: 'tls' }, 'host-a')).released, true);
});

test('EtcdClient refuses an etcd whose certificate is not from the configured CA: ERR_TLS, no failover, no plain-HTTP retry', async () => {
  const client = new EtcdClient({ endpoints: tlsEtcd.endpoints, tls: { caFile: pki.otherCaFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile } });
  await assert.rejects(readSemaphore({ client, group: 'wrong-ca' }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_TLS'), String(error));
    assert.match(error.message, /failed TLS verification: its certificate is not signed by a trusted CA/);
    assert.match(error.hint ?? '', /LOCKSMITHD_ETCD_CAFILE/);
    return true;
  });
  // Without any CA the system store is used, which does not know the test CA either.
  const systemCa = new EtcdClient({ endpoints: tlsEtcd.endpoints, tls: { certFile: pki.clientCertFile, keyFile: pki.clientKeyFile } });
  await assert.rejects(readSemaphore({ client: systemCa, group: 'wrong-ca' }), (error: unknown) => isUpdaterError(error, 'ERR_TLS'));
  // Nothing was written under that group.
  assert.equal(await etcdctl(tlsEtcd, ['get', '--print-value-only', semaphoreKey('wrong-ca')]), '');
});

test('EtcdClient with an expired client certificate, or none, is refused by etcd: ERR_TLS naming the client certificate', async () => {
  for (const tls of [
    { caFile: pki.caFile, certFile: pki.expiredClientCertFile, keyFile: pki.expiredClientKeyFile },
    { caFile: pki.caFile },
  ]) {
    const client = new EtcdClient({ endpoints: tlsEtcd.endpoints, tls });
    await assert.rejects(readSemaphore({ client, group: 'expired' }), (error: unknown) => {
      assert.ok(isUpdaterError(error, 'ERR_TLS'), String(error));
      assert.match(error.message, /refused our client certificate|TLS handshake failed/);
      return true;
    });
  }
  assert.equal(await etcdctl(tlsEtcd, ['get', '--print-value-only', semaphoreKey('expired')]), '');
});

test('EtcdClient refuses a certificate without its key before any request', async () => {
  const client = new EtcdClient({ endpoints: tlsEtcd.endpoints, tls: { caFile: pki.caFile, certFile: pki.clientCertFile } });
  await assert.rejects(readSemaphore({ client }), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG') && /must be set together/.test(error.message));
});

test('EtcdClient with etcd authentication: the right user and password take the lock, re-authenticating when needed', async () => {
  const tls = { caFile: pki.caFile };
  const client = new EtcdClient({ endpoints: authEtcd.endpoints, tls, username: 'abupdate', password: PASSWORD });
  await lockSemaphore({ client, group: 'auth' }, 'host-a');
  const value = await etcdctl(authEtcd, ['--user', `root:${ROOT_PASSWORD}`, 'get', '--print-value-only', semaphoreKey('auth')]);
  assert.equal(value, '{"semaphore":0,"max":1,"holders":["host-a"]}');
  // Tokens die (etcd restarts, revocation): revoke every token by turning auth off and on again; the client logs in again.
  await etcdctl(authEtcd, ['--user', `root:${ROOT_PASSWORD}`, 'auth', 'disable']);
  await etcdctl(authEtcd, ['auth', 'enable']);
  assert.equal((await unlockSemaphore({ client, group: 'auth' }, 'host-a')).released, true);
});

test('EtcdClient with a wrong password, or no user, is refused: ERR_AUTH, and no password in the error', async () => {
  const tls = { caFile: pki.caFile };
  const wrong = new EtcdClient({ endpoints: authEtcd.endpoints, tls, username: 'abupdate', password: WRONG_PASSWORD });
  await assert.rejects(lockSemaphore({ client: wrong, group: 'auth-wrong' }, 'host-b'), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_AUTH'), String(error));
    assert.match(error.message, /Cannot authenticate to etcd as "abupdate": etcd refused the user name or password/);
    noSecrets(error);
    return true;
  });
  const anonymous = new EtcdClient({ endpoints: authEtcd.endpoints, tls });
  await assert.rejects(lockSemaphore({ client: anonymous, group: 'auth-wrong' }, 'host-b'), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_AUTH'), String(error));
    assert.match(error.hint ?? '', /LOCKSMITHD_ETCD_USERNAME/);
    return true;
  });
  // The user may not touch keys outside the reboot lock.
  const outside = new EtcdClient({ endpoints: authEtcd.endpoints, tls, username: 'abupdate', password: PASSWORD });
  await assert.rejects(outside.put('elsewhere', 'x'), (error: unknown) => isUpdaterError(error, 'ERR_AUTH') && /permission denied/.test(error.message));
  assert.equal(await etcdctl(authEtcd, ['--user', `root:${ROOT_PASSWORD}`, 'get', '--print-value-only', semaphoreKey('auth-wrong')]), '');
});

test('abupdate fleet takes the same etcd TLS flags as reboot-lock: pause over TLS works, a wrong CA is ERR_TLS and writes nothing', async () => {
  const endpoints = tlsEtcd.endpoints.join(',');
  const tls = ['--etcd-certfile', pki.clientCertFile, '--etcd-keyfile', pki.clientKeyFile];
  const pause = await runCli(['fleet', 'pause', 'web', '--endpoints', endpoints, '--etcd-cafile', pki.caFile, ...tls, '--prefix', 'tls/fleet', '--json']);
  assert.equal(pause.code, 0, pause.stderr);
  assert.equal(JSON.parse(await etcdctl(tlsEtcd, ['get', '--print-value-only', 'tls/fleet/groups/web/control'])).paused, true);
  const wrong = await runCli(['fleet', 'pause', 'db', '--endpoints', endpoints, '--etcd-cafile', pki.otherCaFile, ...tls, '--prefix', 'tls/fleet', '--json']);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stdout + wrong.stderr, /ERR_TLS/);
  assert.equal(await etcdctl(tlsEtcd, ['get', '--print-value-only', 'tls/fleet/groups/db/control']), '');
});

test('abupdate fleet with etcd user/password: a wrong password is ERR_AUTH and never printed', async () => {
  const wrong = await runCli(['fleet', 'pause', 'web', '--endpoints', authEtcd.endpoints.join(','), '--etcd-cafile', pki.caFile, '--etcd-username', 'abupdate', '--etcd-password', WRONG_PASSWORD, '--prefix', 'auth/fleet', '--json']);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stdout + wrong.stderr, /ERR_AUTH/);
  assert.ok(!(wrong.stdout + wrong.stderr).includes(WRONG_PASSWORD), 'the password is printed');
});
