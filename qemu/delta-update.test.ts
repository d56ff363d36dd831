// Scenario 8 (issue 13): a guest on v1 installs v2 as a delta (bundle format 2), reboots into it and commits it.
// The host's server log shows the bytes fetched: the head and the chunks slot A lacks, not the whole bundle.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../fixtures/tmp.js';
import { loadKeyring } from '../verify/keyring.js';
import { diffBundle } from '../src/usecases/bundle-diff.js';
import { readGptprio } from './harness/host-flags.js';
import { GUEST_ENV, POST_BOOT } from './harness/guest-scripts.js';
import { Machine } from './harness/machine.js';
import { GUEST_COMPATIBLE, prepareScenario, type ScenarioEnv } from './harness/scenario-env.js';

/** The delta install of the served v2 bundle with --json; its result's reused and downloaded bytes as a marker. */
const DELTA_INSTALL_THEN_REBOOT = `${GUEST_ENV}abupdate install http://10.0.2.100:8080/v2.0.0.bundle --json > /tmp/install.json 2> /tmp/install.log
code=$?
tail -n 3 /tmp/install.log
result=$(tail -n 1 /tmp/install.json)
reused=$(echo "$result" | grep -o '"reused":{"bytes":[0-9]*' | grep -o '[0-9]*$')
downloaded=$(echo "$result" | grep -o '"bytesDownloaded":[0-9]*' | grep -o '[0-9]*$')
echo "ABUPDATE-MARKER step=install code=$code reused=\${reused:-none} downloaded=\${downloaded:-none}"
/sbin/reboot
`;

describe('QEMU scenario 8: delta update from the running slot', { timeout: 20 * 60_000 }, () => {
  let env: ScenarioEnv;

  before(async () => {
    env = await prepareScenario({
      bundles: ['2.0.0'],
      bundleFormat: 2,
      files: (publicKey) => ({
        '/etc/abupdate/keys.d/qemu.pub': publicKey,
        '/etc/abupdate/update.conf': `COMPATIBLE=${GUEST_COMPATIBLE}\nDISK=/dev/vda\nSERVER=disabled\nREBOOT_COMMAND=/sbin/reboot\n`,
      }),
    });
  });
  after(() => env?.close());

  test('gptprio path: v1 on A installs v2 fetching only the chunks A lacks, boots B on trial, commits it', async (t) => {
    const bundle = env.bundles['2.0.0']!;
    const predicted = await diffBundle({ kind: 'image', path: env.guest.slotImages.A }, bundle, await loadKeyring([env.keys.keyringDir]));
    const machine = await Machine.create({ guest: env.guest, dir: await makeTempDir(t), name: 'delta-gptprio', bootPath: 'gptprio', serverPort: env.port });
    await machine.run(async () => {
      const first = await machine.boot({ run: DELTA_INSTALL_THEN_REBOOT, timeoutMs: 10 * 60_000 });
      assert.deepEqual([first.slot, first.version, first.end], ['A', '1.0.0', 'reboot']);
      const install = await machine.vms[0]?.waitForMarker({ step: 'install' }, 1);
      assert.equal(install?.fields['code'], '0');
      const reused = Number(install?.fields['reused']);
      const downloaded = Number(install?.fields['downloaded']);

      // The server's log: every byte of the bundle it sent, per request.
      const served = env.server.requests.filter((r) => r.path === 'v2.0.0.bundle');
      const sent = served.reduce((sum, r) => sum + r.bytes, 0);
      t.diagnostic(`bundle ${predicted.bundleSize} bytes; served ${sent} bytes in ${served.length} requests; the guest reused ${reused} bytes of slot A and reports ${downloaded} downloaded; bundle diff from v1's image predicted ${predicted.download.total}`);
      assert.equal(downloaded, sent, 'what the guest says it downloaded is what the server sent');
      assert.ok(sent < predicted.bundleSize / 2, `a delta: ${sent} of ${predicted.bundleSize} bytes`);
      // At most what bundle diff predicts from v1's image: the slots may hold a little more (slot B's zeros).
      assert.ok(sent >= predicted.download.head && sent <= predicted.download.total, `the server sent at most what bundle diff predicts (${predicted.download.total})`);
      assert.ok(reused >= predicted.localBytes, `reused ${reused} bytes, at least what v1's image has (${predicted.localBytes})`);

      const second = await machine.boot({ run: `${POST_BOOT}/sbin/reboot\n`, timeoutMs: 5 * 60_000 });
      assert.deepEqual([second.slot, second.version, second.state, second.end], ['B', '2.0.0', 'trying', 'reboot']);
      assert.equal((await machine.vms[1]?.waitForMarker({ step: 'post-boot' }, 1))?.fields['code'], '0');
      assert.equal((await readGptprio(machine.disk, machine.layout, 'B')).successful, 1, 'B is committed');

      const third = await machine.boot({ timeoutMs: 5 * 60_000 });
      assert.deepEqual([third.slot, third.version, third.state], ['B', '2.0.0', 'good']);
    });
  });
});
