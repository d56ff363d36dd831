// The layering rules (.dependency-cruiser.cjs, docs/architecture.md), checked by dependency-cruiser: on a tree built
// to break each rule once (so the check can fail), and on this tree (which must pass).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../fixtures/cli.js';
import { makeTempDir } from '../fixtures/tmp.js';

const DEPCRUISE = path.join(PROJECT_ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = path.join(PROJECT_ROOT, '.dependency-cruiser.cjs');
/** What `npm run lint:layers` checks. */
const TREE = ['common', 'src', 'partition', 'verify', 'fixtures', 'qemu', 'bench'];

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** The violations dependency-cruiser reports (its JSON report). */
async function violations(cwd: string, dirs: string[]): Promise<Violation[]> {
  const run = await execa(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', ...dirs], { cwd });
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

/** The check as `npm run lint:layers` runs it: its exit status (the number of errors) and what it printed. */
async function check(cwd: string, dirs: string[]): Promise<{ exitCode: number; output: string }> {
  const run = await execa(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'err', ...dirs], { cwd, reject: false, all: true });
  return { exitCode: run.exitCode ?? -1, output: run.all ?? '' };
}

test('the layering check fails on a tree with a cycle and with imports that cross the layers the wrong way', async (t) => {
  const dir = await makeTempDir(t);
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
    // a.ts <-> b.ts: a file cycle.
    'src/engine/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
    'src/engine/b.ts': "import type { a } from './a.js';\nexport const b = (): number => 1;\nexport type A = typeof a;\n",
    // src/omaha -> src/sources -> src/omaha: a folder cycle without a file cycle.
    'src/omaha/client.ts': "import { fetchIt } from '../sources/fetch.js';\nexport const check = fetchIt;\n",
    'src/sources/fetch.ts': "export const fetchIt = (): string => 'x';\n",
    'src/sources/omaha-source.ts': "import { check } from '../omaha/client.js';\nexport const source = check;\n",
    // Layer crossings.
    'partition/gpt.ts': "import { a } from '../src/engine/a.js';\nimport { sig } from '../verify/sig.js';\nexport const gpt = [a, sig];\n",
    'verify/sig.ts': "export const sig = 1;\n",
    'verify/bundle.ts': "import { gpt } from '../partition/gpt.js';\nexport const bundle = gpt;\n",
    'common/errors.ts': "import { sig } from '../verify/sig.js';\nexport const errors = sig;\n",
    'src/demo/demo.ts': "import { disk } from '../../fixtures/disk.js';\nexport const demo = disk;\n",
    'fixtures/disk.ts': "export const disk = 1;\n",
    'src/daemon/engine-seam.ts': "import { context } from '../cli/engine-context.js';\nexport const seam = context;\n",
    'src/cli/engine-context.ts': "export const context = 1;\n",
  };
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  const dirs = ['common', 'src', 'partition', 'verify', 'fixtures'];
  const { exitCode, output } = await check(dir, dirs);
  assert.notEqual(exitCode, 0, 'the check fails');
  assert.match(output, /no-circular: src\/engine\/a\.ts/);
  const found = new Set((await violations(dir, dirs)).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`));
  for (const expected of [
    'no-circular: src/engine/a.ts -> src/engine/b.ts',
    'no-circular-folders: src/omaha -> src/sources',
    'partition-is-below-src: partition/gpt.ts -> src/engine/a.ts',
    'partition-is-below-src: partition/gpt.ts -> verify/sig.ts',
    'verify-is-below-src: verify/bundle.ts -> partition/gpt.ts',
    'common-imports-nothing-of-ours: common/errors.ts -> verify/sig.ts',
    'product-never-imports-test-scaffolding: src/demo/demo.ts -> fixtures/disk.ts',
    'only-the-cli-imports-the-cli: src/daemon/engine-seam.ts -> src/cli/engine-context.ts',
  ]) {
    assert.ok(found.has(expected), `expected "${expected}" among:\n${[...found].join('\n')}`);
  }
});

test('the layering check passes on this tree: no import cycle, no import across the layers the wrong way', async () => {
  const { exitCode, output } = await check(PROJECT_ROOT, TREE);
  assert.equal(exitCode, 0, output);
  assert.match(output, /no dependency violations found/);
});
