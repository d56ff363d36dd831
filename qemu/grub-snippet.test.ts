// Runs partition/grub/abupdate-ab.cfg in real stock GRUB (OVMF, no kernel: abupdate_noboot=1) against a
// table of grubenv states and checks the slot it chose and the grubenv it left, byte for byte via grub-editenv.

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { PROJECT_ROOT } from '../fixtures/cli.js';

const SNIPPET = path.join(PROJECT_ROOT, 'partition', 'grub', 'abupdate-ab.cfg');
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

const EMBED_CFG = 'search --no-floppy --label ABESP --set=root\nset prefix=($root)/grub\nconfigfile ($root)/grub/grub.cfg\n';
const GRUB_CFG = [
  'set timeout=0',
  'set abupdate_env=($root)/grub/grubenv',
  'set abupdate_noboot=1',
  'source ($root)/grub/abupdate-ab.cfg',
  'echo "RESULT slot=${abupdate_slot}"',
  'halt',
  '',
].join('\n');

type Env = Record<string, string>;

async function grubenvFile(file: string, env: Env): Promise<void> {
  await execa('grub-editenv', [file, 'create']);
  await execa('grub-editenv', [file, 'set', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]);
}

async function listGrubenv(file: string): Promise<Env> {
  const out = (await execa('grub-editenv', [file, 'list'])).stdout;
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('partition/grub/abupdate-ab.cfg in stock GRUB', { timeout: 10 * 60_000 }, () => {
  let efi: string;
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'abupdate-grub-'));
    await writeFile(path.join(dir, 'embed.cfg'), EMBED_CFG);
    efi = path.join(dir, 'BOOTX64.EFI');
    await execa('grub-mkstandalone', [
      '-O', 'x86_64-efi', '-o', efi,
      '--modules=part_gpt part_msdos fat search search_label configfile loadenv test echo normal halt linux',
      `boot/grub/grub.cfg=${path.join(dir, 'embed.cfg')}`,
    ]);
  });

  /** One GRUB boot with grubenv ENV; returns what the snippet chose and the grubenv afterwards. */
  async function bootOnce(dir: string, env: Env): Promise<{ slot: string; after: Env; console: string }> {
    const esp = path.join(dir, 'esp.img');
    await execa('truncate', ['-s', '16M', esp]);
    await execa('mkfs.vfat', ['-n', 'ABESP', esp]);
    await execa('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT', '::/grub']);
    await writeFile(path.join(dir, 'grub.cfg'), GRUB_CFG);
    await grubenvFile(path.join(dir, 'grubenv'), env);
    for (const [from, to] of [[efi, '::/EFI/BOOT/BOOTX64.EFI'], [path.join(dir, 'grub.cfg'), '::/grub/grub.cfg'], [SNIPPET, '::/grub/abupdate-ab.cfg'], [path.join(dir, 'grubenv'), '::/grub/grubenv']] as const) {
      await execa('mcopy', ['-i', esp, from, to]);
    }
    const vars = path.join(dir, 'vars.fd');
    await copyFile(OVMF_VARS, vars);
    const run = await execa('qemu-system-x86_64', [
      '-machine', 'q35', '-m', '256', '-nographic', '-no-reboot', '-net', 'none', '-display', 'none', '-serial', 'mon:stdio',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
      '-drive', `if=pflash,format=raw,file=${vars}`,
      '-drive', `file=${esp},format=raw,if=virtio`,
    ], { timeout: 240_000, reject: false, stdin: 'ignore' });
    const console = run.stdout.replace(/\r/g, '');
    const slot = /RESULT slot=([AB]?)/.exec(console)?.[1];
    assert.notEqual(slot, undefined, `GRUB did not reach the end of grub.cfg:\n${console.slice(-2000)}`);
    await execa('mcopy', ['-n', '-i', esp, '::/grub/grubenv', path.join(dir, 'after.env')]);
    assert.equal((await readFile(path.join(dir, 'after.env'))).length, 1024);
    return { slot: slot ?? '', after: await listGrubenv(path.join(dir, 'after.env')), console };
  }

  const cases: Array<[string, Env, string, Env]> = [
    ['boots B on trial and spends one of its 2 tries', { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '2' }, 'B', { B_TRY: '1' }],
    ['falls back to A when B has no tries and no commit', { ORDER: 'B A', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' }, 'A', { B_TRY: '0', A_TRY: '0' }],
    ['spends a try of a committed slot too (as gptprio.next)', { ORDER: 'A B', A_OK: '0', A_TRY: '0', B_OK: '1', B_TRY: '3' }, 'B', { B_TRY: '2' }],
    ['never boots a slot missing from ORDER', { ORDER: 'A', A_OK: '0', A_TRY: '0', B_OK: '1', B_TRY: '0' }, '', {}],
    ['boots a good slot with no tries and leaves grubenv as it was', { ORDER: 'A B', A_OK: '1', A_TRY: '0', B_OK: '1', B_TRY: '0' }, 'A', {}],
  ];

  for (const [name, env, slot, changed] of cases) {
    test(`abupdate-ab.cfg ${name}`, async (t) => {
      const dir = await makeTempDir(t);
      const result = await bootOnce(dir, env);
      assert.equal(result.slot, slot, result.console.slice(-1500));
      assert.deepEqual(result.after, { ...env, ...changed });
      if (slot === '') assert.match(result.console, /abupdate: no bootable slot/);
      else assert.match(result.console, new RegExp(`abupdate: chose slot ${slot}`));
    });
  }
});
