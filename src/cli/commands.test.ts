import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from './commands.js';

test('COMMANDS: every entry loads the command of its name, and shows that command\'s own summary', async () => {
  for (const entry of COMMANDS) {
    const command = await entry.load();
    assert.equal(command.name, entry.name);
    assert.equal(entry.summary, command.summary, `the summary of "${entry.name}" in commands.ts is the one its file gives`);
  }
  assert.equal(new Set(COMMANDS.map((c) => c.name)).size, COMMANDS.length, 'no name twice');
});
