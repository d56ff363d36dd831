// Makes Jazzer.js 4.0.0's prebuilt libFuzzer addon load on Debian 12 (glibc 2.36, libstdc++ of GCC 12).
//
// The addon ships inside the npm package (no download), but was linked on a newer system: it asks for
// GLIBC_2.38 (only for __isoc23_strtol and __isoc23_strtoul, the C23 spellings of strtol/strtoul, which differ
// only in accepting "0b" prefixes with base 0 or 2) and GLIBCXX_3.4.32 (only for std::ios_base_library_init, a
// link-time marker with no relocation: nothing calls it). This rewrites the addon in place, once:
//   - the two __isoc23_ names in .dynstr become strtol / strtoul, their .gnu.version entries "unversioned";
//   - the GLIBC_2.38 and GLIBCXX_3.4.32 requirements in .gnu.version_r are marked VER_FLG_WEAK (not fatal).
// Nothing else in the file changes. The unpatched file is kept next to it as *.orig.

import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const VER_FLG_WEAK = 0x2;
const WEAKENED = new Set(['GLIBC_2.38', 'GLIBCXX_3.4.32']);
const RENAMED: Record<string, string> = { __isoc23_strtol: 'strtol', __isoc23_strtoul: 'strtoul' };

interface Section { name: string; offset: number; size: number }

function sections(b: Buffer): Section[] {
  if (b.toString('latin1', 1, 4) !== 'ELF' || b[4] !== 2 || b[5] !== 1) throw new Error('not a little-endian ELF64 file');
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const o = shoff + i * shentsize;
    return { nameOffset: b.readUInt32LE(o), offset: Number(b.readBigUInt64LE(o + 0x18)), size: Number(b.readBigUInt64LE(o + 0x20)) };
  });
  const names = raw[shstrndx];
  if (!names) throw new Error('no section name table');
  return raw.map((s) => ({ name: cString(b, names.offset + s.nameOffset), offset: s.offset, size: s.size }));
}

function cString(b: Buffer, at: number): string {
  const end = b.indexOf(0, at);
  return b.toString('latin1', at, end);
}

/** Patches the ELF bytes B in place; returns what changed (empty when nothing needed changing). */
export function patchAddon(b: Buffer): string[] {
  const all = sections(b);
  const find = (name: string) => {
    const s = all.find((x) => x.name === name);
    if (!s) throw new Error(`no ${name} section`);
    return s;
  };
  const dynsym = find('.dynsym');
  const dynstr = find('.dynstr');
  const versym = find('.gnu.version');
  const verneed = find('.gnu.version_r');
  const changes: string[] = [];
  // Elf64_Verneed { vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32 }
  // Elf64_Vernaux { vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32 }
  for (let need = verneed.offset; ; ) {
    const count = b.readUInt16LE(need + 2);
    let aux = need + b.readUInt32LE(need + 8);
    for (let i = 0; i < count; i++) {
      const flags = b.readUInt16LE(aux + 4);
      const name = cString(b, dynstr.offset + b.readUInt32LE(aux + 8));
      if (WEAKENED.has(name) && !(flags & VER_FLG_WEAK)) {
        b.writeUInt16LE(flags | VER_FLG_WEAK, aux + 4);
        changes.push(`${name} weak`);
      }
      const next = b.readUInt32LE(aux + 12);
      if (next === 0) break;
      aux += next;
    }
    const next = b.readUInt32LE(need + 12);
    if (next === 0) break;
    need += next;
  }
  // Elf64_Sym is 24 bytes; st_name at 0
  for (let i = 0; i < dynsym.size / 24; i++) {
    const nameAt = dynstr.offset + b.readUInt32LE(dynsym.offset + i * 24);
    const name = cString(b, nameAt);
    const plain = RENAMED[name];
    if (plain === undefined) continue;
    b.write(`${plain}\0`, nameAt, 'latin1');
    b.writeUInt16LE(1, versym.offset + i * 2); // VER_NDX_GLOBAL
    changes.push(`${name} -> ${plain}`);
  }
  return changes;
}

/** The path of Jazzer's linux-x64 addon in node_modules. */
export function addonPath(): string {
  const require = createRequire(import.meta.url);
  const fuzzerPackage = require.resolve('@jazzer.js/fuzzer/package.json');
  return path.join(path.dirname(fuzzerPackage), 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
}

/** Patches the installed addon once (idempotent). Returns the changes made now. */
export function ensureJazzerLoads(): string[] {
  if (process.platform !== 'linux' || process.arch !== 'x64') return [];
  const file = addonPath();
  const bytes = readFileSync(file);
  const changes = patchAddon(bytes);
  if (changes.length === 0) return [];
  if (!existsSync(`${file}.orig`)) copyFileSync(file, `${file}.orig`);
  writeFileSync(file, bytes);
  return changes;
}
