// Tests of the Omaha response parser: ok, noupdate, every error status, malformed XML and each missing field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpdaterError } from '../../common/errors.js';
import { parseOmahaResponse } from './response.js';

const SHA = Buffer.alloc(32, 7).toString('base64');

function okResponse(overrides: { urls?: string; packages?: string; actions?: string; manifestAttrs?: string; poll?: string } = {}): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<response protocol="3.0" server="nebraska">
 <daystart elapsed_seconds="0"></daystart>
 <app appid="{x}" status="ok">
  <event status="ok"></event>
  <ping status="ok"></ping>
  <updatecheck status="ok"${overrides.poll ?? ''}>
   <urls>${overrides.urls ?? '<url codebase="http://127.0.0.1:9/pkgs"></url><url codebase="https://mirror.example/pkgs/"></url>'}</urls>
   <manifest ${overrides.manifestAttrs ?? 'version="2.0.0"'}>
    <packages>${overrides.packages ?? '<package name="os-2.0.0.bundle" hash="+LXvjiaPkeYDLHoNKlf9qbJwvnk=" size="67546213" required="true"></package><package name="extra.raw" size="5"></package>'}</packages>
    <actions>${overrides.actions ?? `<action event="postinstall" sha256="${SHA}" DisablePayloadBackoff="true"></action>`}</actions>
   </manifest>
  </updatecheck>
 </app>
</response>`;
}

test('parseOmahaResponse() reads an ok update: version, every URL + first package, size, postinstall sha256', () => {
  assert.deepEqual(parseOmahaResponse(okResponse()), {
    status: 'ok',
    version: '2.0.0',
    urls: ['http://127.0.0.1:9/pkgs/os-2.0.0.bundle', 'https://mirror.example/pkgs/os-2.0.0.bundle'],
    packageName: 'os-2.0.0.bundle',
    size: 67546213,
    sha256: SHA,
  });
});

test('parseOmahaResponse() reads noupdate and the server poll interval', () => {
  const xml = '<response protocol="3.0"><app appid="{x}" status="ok"><updatecheck status="noupdate" PollInterval="600"/></app></response>';
  assert.deepEqual(parseOmahaResponse(xml), { status: 'noupdate', pollInterval: 600 });
  assert.equal(parseOmahaResponse(okResponse({ poll: ' PollInterval="120"' })).status, 'ok');
  assert.equal((parseOmahaResponse(okResponse({ poll: ' PollInterval="120"' })) as { pollInterval?: number }).pollInterval, 120);
});

for (const status of ['error-internal', 'error-osnotsupported', 'error-unsupportedProtocol', 'error-pluginRestrictedHost', 'error-hash', 'restricted']) {
  test(`parseOmahaResponse() turns updatecheck status "${status}" into ERR_OMAHA_STATUS`, () => {
    const xml = `<response protocol="3.0"><app appid="{x}" status="ok"><updatecheck status="${status}"/></app></response>`;
    assert.throws(() => parseOmahaResponse(xml), (error: unknown) => isUpdaterError(error, 'ERR_OMAHA_STATUS') && error.data?.status === status && error.message.includes(`"${status}"`));
  });
}

for (const status of ['error-unknownApplication', 'error-maxUpdatesPerPeriodLimitReached', 'error-updatesDisabled', 'error-failedToRetrieveUpdatePackageInfo']) {
  test(`parseOmahaResponse() turns Nebraska's app status "${status}" into ERR_OMAHA_STATUS naming it`, () => {
    const xml = `<response protocol="3.0"><app appid="{x}" status="${status}"><updatecheck status="error-internal"/></app></response>`;
    assert.throws(
      () => parseOmahaResponse(xml),
      (error: unknown) => isUpdaterError(error, 'ERR_OMAHA_STATUS') && error.data?.status === status && error.data?.updatecheckStatus === 'error-internal',
    );
  });
}

const MALFORMED: [string, string, RegExp][] = [
  ['an empty body', '', /the body is empty/],
  ['Nebraska\'s header-only answer', '<?xml version="1.0" encoding="UTF-8"?>\n', /no <response> element/],
  ['unclosed tags', '<response protocol="3.0"><app><updatecheck status="ok"></app>', /malformed XML at line 1/],
  ['plain text', 'Service Unavailable', /malformed XML|no <response>/],
  ['a DOCTYPE (entity expansion)', '<!DOCTYPE r [<!ENTITY a "aaaa">]><response protocol="3.0"/>', /DOCTYPE/],
  ['another protocol', '<response protocol="2.0"><app status="ok"><updatecheck status="noupdate"/></app></response>', /protocol is "2.0"/],
  ['no app', '<response protocol="3.0"></response>', /no <app> element/],
  ['no updatecheck', '<response protocol="3.0"><app status="ok"><ping status="ok"/></app></response>', /no <updatecheck>/],
  ['no updatecheck status', '<response protocol="3.0"><app status="ok"><updatecheck/></app></response>', /has no status/],
  ['no manifest', '<response protocol="3.0"><app status="ok"><updatecheck status="ok"><urls><url codebase="http://x/"/></urls></updatecheck></app></response>', /no <manifest>/],
  ['no manifest version', okResponse({ manifestAttrs: '' }), /no version/],
  ['no urls', okResponse({ urls: '' }), /no <urls>/],
  ['an empty codebase', okResponse({ urls: '<url codebase=""/>' }), /empty codebase/],
  ['a file: codebase', okResponse({ urls: '<url codebase="file:///etc/"/>' }), /not http or https/],
  ['no package', okResponse({ packages: '' }), /no <package>/],
  ['a package name with a slash', okResponse({ packages: '<package name="../x" size="5"/>' }), /not a plain file name/],
  ['a zero size', okResponse({ packages: '<package name="x" size="0"/>' }), /not a positive whole number/],
  ['a negative size', okResponse({ packages: '<package name="x" size="-5"/>' }), /not a positive whole number/],
  ['no postinstall action', okResponse({ actions: '<action event="preinstall" sha256="x"/>' }), /no postinstall <action>/],
  ['a hex sha256', okResponse({ actions: `<action event="postinstall" sha256="${'ab'.repeat(32)}"/>` }), /not a base64 SHA-256/],
];

for (const [name, xml, pattern] of MALFORMED) {
  test(`parseOmahaResponse() refuses ${name} with ERR_OMAHA_XML`, () => {
    assert.throws(() => parseOmahaResponse(xml), (error: unknown) => {
      assert.ok(isUpdaterError(error, 'ERR_OMAHA_XML'), String(error));
      assert.match(error.message, /^Cannot read the Omaha response: /);
      assert.match(error.message, pattern);
      return true;
    });
  });
}

test('parseOmahaResponse() decodes numeric character references in attributes (&#47; is "/"), once, and no HTML entities', () => {
  const result = parseOmahaResponse(
    okResponse({
      urls: '<url codebase="https:&#47;&#47;updates.example&#x2F;pkgs&#x2f;"></url>',
      packages: '<package name="os&#45;2.0.0&#x2E;bundle" hash="x" size="&#54;7546213" required="true"></package>',
      manifestAttrs: 'version="2&#46;0&#46;0"',
    }),
  );
  assert.deepEqual(result, {
    status: 'ok',
    version: '2.0.0',
    urls: ['https://updates.example/pkgs/os-2.0.0.bundle'],
    packageName: 'os-2.0.0.bundle',
    size: 67546213,
    sha256: SHA,
  });
  // &amp;#47; is the text "&#47;", not a second decoding into "/"; &copy; is not an XML entity and stays as written.
  const literal = parseOmahaResponse(okResponse({ urls: '<url codebase="https://updates.example/a&amp;#47;b&copy;/"></url>' }));
  assert.ok(literal.status === 'ok');
  assert.deepEqual(literal.urls, ['https://updates.example/a&#47;b&copy;/os-2.0.0.bundle']);
});
