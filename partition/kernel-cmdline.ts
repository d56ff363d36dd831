// The kernel command line split as the kernel's own next_arg() splits it, and the words that name the
// booted slot read as the kernel and systemd read them: the last occurrence of a key wins.

/** One `key[=value]` word; `value` is undefined for a bare word such as `ro`. */
export interface CmdlineWord {
  key: string;
  value: string | undefined;
}

/**
 * The words of a kernel command line, split as lib/cmdline.c next_arg() does: whitespace separates words
 * except inside double quotes, a quote opening the value (`a="b c"`) or the whole word (`"a=b c"`) is
 * dropped with its partner at the end, and a bare `--` ends the kernel's words (the rest is init's).
 */
export function splitCmdline(text: string): CmdlineWord[] {
  const words: CmdlineWord[] = [];
  let at = 0;
  const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  while (at < text.length) {
    while (isSpace(text[at])) at++;
    if (at >= text.length) break;
    let quoted = false;
    if (text[at] === '"') {
      quoted = true;
      at++;
    }
    let inQuote = quoted;
    let equals = -1;
    let end = at;
    for (; end < text.length; end++) {
      const c = text[end];
      if (isSpace(c) && !inQuote) break;
      if (equals === -1 && c === '=') equals = end - at;
      if (c === '"') inQuote = !inQuote;
    }
    let word = text.slice(at, end);
    at = end;
    if (equals === -1) {
      if (quoted && word.endsWith('"')) word = word.slice(0, -1);
      if (word === '--' && !quoted) break;
      words.push({ key: word, value: undefined });
      continue;
    }
    let value = word.slice(equals + 1);
    if (value.startsWith('"')) {
      value = value.slice(1);
      if (value.endsWith('"')) value = value.slice(0, -1);
    } else if (quoted && value.endsWith('"')) {
      value = value.slice(0, -1);
    }
    words.push({ key: word.slice(0, equals), value });
  }
  return words;
}

/** `key=value` pairs of a command line (bare words left out), in order. */
export function parseCmdline(text: string): Array<[string, string]> {
  return splitCmdline(text).flatMap((w) => (w.value === undefined ? [] : [[w.key, w.value] as [string, string]]));
}

/** The value the kernel (or systemd, which reads /proc/cmdline the same way) uses for KEY: the last one given. */
export function lastValue(words: readonly CmdlineWord[], key: string): string | undefined {
  let found: string | undefined;
  for (const w of words) if (w.key === key && w.value !== undefined) found = w.value;
  return found;
}

/**
 * The keys whose value names the device of a mounted slot, in the order a report names them: abupdate's own
 * word from the GRUB snippet, Flatcar's dm-verity data device, systemd's and the initrd's /usr, the kernel's root.
 */
export const SLOT_KEYS = ['abupdate.slot', 'verity.usr', 'mount.usr', 'usr', 'root'] as const;
export type SlotKey = (typeof SLOT_KEYS)[number];
