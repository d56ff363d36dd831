// Tests of the Omaha request XML: every attribute update_engine sends, escaped, parsed back by a real XML parser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { isUpdaterError } from '../../common/errors.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { FLATCAR_APP_ID, omahaEventFor } from './events.js';
import { readHostIdentity } from './host-identity.js';
import { buildOmahaRequest, type OmahaClientInfo } from './request.js';

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseAttributeValue: false, isArray: (n) => n === 'event' || n === 'app' });

const INFO: OmahaClientInfo = {
  appId: '{3b0b1d5e-6a57-4c61-9f0e-5f7a2b8c9d41}',
  version: '1.2.3',
  track: 'beta & "friends" <x>',
  machineId: '592cfdb69c7f4a29a6b361b60cedd954',
  bootId: '{90b0e235-2b50-4a0e-9619-bc014ca2fcfd}',
  alephVersion: '1.0.0',
  oem: 'acme',
  oemVersion: '7',
  board: 'amd64-usr',
  updaterVersion: 'abupdate-0.1.0',
};

function parse(xml: string) {
  assert.equal(XMLValidator.validate(xml), true);
  return parser.parse(xml).request;
}

test('buildOmahaRequest() writes an update check with every attribute update_engine sends, escaped', () => {
  const xml = buildOmahaRequest(INFO, { kind: 'updatecheck', interactive: false });
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<request protocol="3.0" '));
  const request = parse(xml);
  assert.equal(request.protocol, '3.0');
  assert.equal(request.version, 'abupdate-0.1.0');
  assert.equal(request.updaterversion, 'abupdate-0.1.0');
  assert.equal(request.installsource, 'scheduler');
  assert.equal(request.ismachine, '1');
  assert.equal(request.os.platform, 'abupdate');
  assert.match(request.os.sp, /^1\.2\.3_(x86_64|aarch64|\w+)$/);
  const app = request.app[0];
  assert.deepEqual(
    Object.fromEntries(Object.entries(app).filter(([k, v]) => typeof v === 'string' && k !== 'updatecheck')),
    {
      appid: INFO.appId,
      version: '1.2.3',
      track: 'beta & "friends" <x>',
      bootid: INFO.bootId,
      oem: 'acme',
      oemversion: '7',
      alephversion: '1.0.0',
      machineid: INFO.machineId,
      machinealias: '',
      lang: 'en-US',
      board: 'amd64-usr',
      hardware_class: '',
      delta_okay: 'false',
    },
  );
  assert.match(xml, /track="beta &amp; &quot;friends&quot; &lt;x&gt;"/);
  assert.equal(app.ping.active, '1');
  assert.equal(app.updatecheck, '');
  assert.equal(app.event, undefined);
});

test('buildOmahaRequest() puts the 3/2 event with previousversion into the first check after a reboot', () => {
  const xml = buildOmahaRequest(INFO, {
    kind: 'updatecheck',
    interactive: true,
    event: omahaEventFor({ kind: 'complete-after-reboot', version: '1.2.3', previousVersion: '1.1.0' }, INFO.appId),
  });
  const request = parse(xml);
  assert.equal(request.installsource, 'ondemandupdate');
  assert.deepEqual(request.app[0].event, [{ eventtype: '3', eventresult: '2', previousversion: '1.1.0' }]);
});

test('buildOmahaRequest() writes event-only requests without ping or updatecheck: 13/1, 14/1, 800/1 (3/1 for Flatcar), 3/0 errorcode', () => {
  const cases = [
    [{ kind: 'download-started', version: '2.0.0' }, { eventtype: '13', eventresult: '1' }],
    [{ kind: 'download-finished', version: '2.0.0' }, { eventtype: '14', eventresult: '1' }],
    [{ kind: 'installed', version: '2.0.0' }, { eventtype: '800', eventresult: '1' }],
    [{ kind: 'error', code: 'ERR_CHUNK_HASH' }, { eventtype: '3', eventresult: '0', errorcode: '10' }],
    [{ kind: 'error', code: 'ERR_HTTP_STATUS', httpStatus: 503 }, { eventtype: '3', eventresult: '0', errorcode: '2503' }],
  ] as const;
  for (const [event, expected] of cases) {
    const xml = buildOmahaRequest(INFO, { kind: 'event', interactive: false, event: omahaEventFor(event, INFO.appId) });
    const app = parse(xml).app[0];
    assert.deepEqual(app.event, [expected]);
    assert.equal(app.ping, undefined);
    assert.equal(app.updatecheck, undefined);
    assert.doesNotMatch(xml, /ping/);
  }
  // Flatcar's app id (with or without braces, any case) gets update_engine's 3/1.
  for (const appId of [FLATCAR_APP_ID, `{${FLATCAR_APP_ID.toUpperCase()}}`]) {
    assert.deepEqual(omahaEventFor({ kind: 'installed', version: '2.0.0' }, appId), { type: 3, result: 1 });
  }
});

test('buildOmahaRequest() refuses to build a request larger than 64 KiB', () => {
  assert.throws(
    () => buildOmahaRequest({ ...INFO, track: 'x'.repeat(70 * 1024) }, { kind: 'ping', interactive: false }),
    (error: unknown) => isUpdaterError(error, 'ERR_OMAHA_XML') && /more than the 65536/.test(error.message),
  );
});

test('readHostIdentity() reads machine id, braces the boot id and reads the OEM release file', async (t) => {
  const dir = await makeTempDir(t);
  await writeFile(path.join(dir, 'machine-id'), '592CFDB69C7F4A29A6B361B60CEDD954\n');
  await writeFile(path.join(dir, 'boot_id'), '90b0e235-2b50-4a0e-9619-bc014ca2fcfd\n');
  await writeFile(path.join(dir, 'oem-release'), 'ID=acme\nVERSION_ID="7.1"\nNAME=Acme\n');
  const identity = await readHostIdentity({
    machineIdPath: path.join(dir, 'machine-id'),
    bootIdPath: path.join(dir, 'boot_id'),
    oemReleasePaths: [path.join(dir, 'missing'), path.join(dir, 'oem-release')],
  });
  assert.equal(identity.machineId, '592cfdb69c7f4a29a6b361b60cedd954');
  assert.equal(identity.bootId, '{90b0e235-2b50-4a0e-9619-bc014ca2fcfd}');
  assert.equal(identity.oem, 'acme');
  assert.equal(identity.oemVersion, '7.1');
  await writeFile(path.join(dir, 'machine-id'), 'uninitialized\n');
  await assert.rejects(readHostIdentity({ machineIdPath: path.join(dir, 'machine-id') }), (error: unknown) => isUpdaterError(error, 'ERR_IO'));
});
