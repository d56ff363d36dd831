// Parses KEY=VALUE files in systemd EnvironmentFile= syntax, keeping the line number of every assignment.

import { UpdaterError } from '../../common/errors.js';

export interface EnvAssignment {
  key: string;
  value: string;
  /** 1-based line number in the file. */
  line: number;
}

const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

function syntaxError(file: string, line: number, why: string, hint?: string): UpdaterError {
  return new UpdaterError('ERR_CONFIG', `Cannot read config ${file}:${line}: ${why}`, {
    data: { file, line },
    hint: hint ?? 'Write one KEY=VALUE per line; values may be quoted with "..." or \'...\'; lines starting with # or ; are comments.',
  });
}

/** Reads a double-quoted value starting after the opening quote; returns the value and the index after the closing quote. */
function readDoubleQuoted(text: string, start: number, file: string, line: number): { value: string; end: number } {
  let value = '';
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') return { value, end: i + 1 };
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === undefined) break;
      // systemd keeps the backslash for anything but these escapes.
      if (next === '"' || next === '\\' || next === '$' || next === '`') value += next;
      else if (next === 'n') value += '\n';
      else value += `\\${next}`;
      i++;
      continue;
    }
    value += ch;
  }
  throw syntaxError(file, line, 'the double quote is never closed');
}

/**
 * Parses the text of an EnvironmentFile. Comments (`#`, `;` as first non-blank character) and blank lines are
 * skipped; `export KEY=...` and line continuations are refused (systemd would read them differently from a shell).
 * A later assignment of the same key wins, as in systemd.
 */
export function parseEnvFile(text: string, file: string): EnvAssignment[] {
  const result: EnvAssignment[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const raw = (lines[index] ?? '').replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (raw.includes('\0')) throw syntaxError(file, lineNumber, 'the line contains a NUL byte');
    const eq = trimmed.indexOf('=');
    if (/^export\s/.test(trimmed)) {
      throw syntaxError(file, lineNumber, `"export" is not allowed in "${trimmed}"`, `Remove "export": write ${trimmed.replace(/^export\s+/, '')}`);
    }
    if (eq < 0) throw syntaxError(file, lineNumber, `"${trimmed}" is not a KEY=VALUE assignment`);
    const key = trimmed.slice(0, eq).trim();
    if (!KEY_PATTERN.test(key)) throw syntaxError(file, lineNumber, `"${key}" is not a valid key name (letters, digits and _)`);
    let rest = trimmed.slice(eq + 1).trimStart();
    let value: string;
    if (rest.startsWith('"') || rest.startsWith("'")) {
      let end: number;
      if (rest.startsWith('"')) {
        ({ value, end } = readDoubleQuoted(rest, 1, file, lineNumber));
      } else {
        const close = rest.indexOf("'", 1);
        if (close < 0) throw syntaxError(file, lineNumber, 'the single quote is never closed');
        value = rest.slice(1, close);
        end = close + 1;
      }
      const after = rest.slice(end).trim();
      if (after !== '') throw syntaxError(file, lineNumber, `unexpected text "${after}" after the quoted value of ${key}`);
    } else {
      if (rest.endsWith('\\')) {
        throw syntaxError(file, lineNumber, `the value of ${key} ends with a backslash (line continuation is not supported)`, 'Put the whole value on one line.');
      }
      rest = rest.trimEnd();
      value = rest;
    }
    result.push({ key, value, line: lineNumber });
  }
  return result;
}
