// Tests of the serial-console marker parser: guest markers, GRUB's A/B snippet lines, split chunks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter, markerMatches, parseMarkerLine } from './markers.js';

test('parseMarkerLine() reads key=value fields after ABUPDATE-MARKER, ignoring terminal escapes and CR', () => {
  const marker = parseMarkerLine('\x1b[0mABUPDATE-MARKER booted=B version=2.0.0 boot=grubenv state=trying\r', 1500);
  assert.deepEqual(marker?.fields, { booted: 'B', version: '2.0.0', boot: 'grubenv', state: 'trying' });
  assert.equal(marker?.atMs, 1500);
  assert.equal(parseMarkerLine('[    2.1] virtio_blk virtio1: [vda] 790528 512-byte logical blocks'), undefined);
});

test("parseMarkerLine() turns partition/grub/abupdate-ab.cfg's output into stage=grub markers", () => {
  const chose = parseMarkerLine('\x1b[37m\x1b[40mabupdate: booting slot B (A_OK=1 A_TRY=0 B_OK=0 B_TRY=0)');
  assert.deepEqual(chose?.fields, { stage: 'grub', chose: 'B', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' });
  const none = parseMarkerLine('abupdate: no bootable slot (ORDER=A B A_OK=0 A_TRY=0 B_OK=0 B_TRY=0)');
  assert.deepEqual(none?.fields, { stage: 'grub', error: 'no-bootable-slot' });
});

test('markerMatches() needs every queried key, by value or RegExp', () => {
  const marker = parseMarkerLine('ABUPDATE-MARKER stage=gptprio chose=B tries-before=2 tries-after=1');
  assert.ok(marker);
  assert.equal(markerMatches(marker, { stage: 'gptprio', chose: 'B' }), true);
  assert.equal(markerMatches(marker, { 'tries-after': /^[01]$/ }), true);
  assert.equal(markerMatches(marker, { stage: 'gptprio', chose: 'A' }), false);
  assert.equal(markerMatches(marker, { booted: 'B' }), false);
});

test('LineSplitter.push() returns only complete lines and keeps a marker split across chunks whole', () => {
  const lines = new LineSplitter();
  assert.deepEqual(lines.push('ABUPDATE-MARKER boo'), []);
  assert.deepEqual(lines.push('ted=A version=1.0.0\nnext'), ['ABUPDATE-MARKER booted=A version=1.0.0']);
  assert.deepEqual(lines.flush(), ['next']);
  assert.deepEqual(lines.flush(), []);
});
