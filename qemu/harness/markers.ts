// Parses what the guest says on its serial console: "ABUPDATE-MARKER key=value ..." lines and GRUB's "abupdate:" lines.

export interface Marker {
  /** The key=value pairs of the line, e.g. { booted: 'A', version: '1.0.0', boot: 'grubenv', state: 'good' }. */
  fields: Record<string, string>;
  /** The line as printed (after the marker word). */
  text: string;
  /** Milliseconds since this qemu process started. */
  atMs: number;
}

const MARKER = 'ABUPDATE-MARKER ';
/** What partition/grub/abupdate-ab.cfg prints when it has chosen (and spent a try of) a slot. */
const GRUB_CHOSE = /abupdate: booting slot ([AB]) \(([^)]*)\)/;
const GRUB_NONE = /abupdate: no bootable slot/;

/**
 * The marker in one console line, or undefined. Values never contain spaces. GRUB's A/B snippet
 * lines become markers too: { stage: 'grub', chose: 'B', B_TRY: '0', ... } and
 * { stage: 'grub', error: 'no-bootable-slot' }.
 */
export function parseMarkerLine(line: string, atMs = 0): Marker | undefined {
  const grub = GRUB_CHOSE.exec(line);
  if (grub?.[1] !== undefined) {
    const text = `stage=grub chose=${grub[1]} ${grub[2] ?? ''}`.trim();
    return { fields: fieldsOf(text), text, atMs };
  }
  if (GRUB_NONE.test(line)) {
    const text = 'stage=grub error=no-bootable-slot';
    return { fields: fieldsOf(text), text, atMs };
  }
  const at = line.indexOf(MARKER);
  if (at < 0) return undefined;
  // Strip terminal control sequences the firmware may have left on the line.
  const text = line
    .slice(at + MARKER.length)
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/[\r\x00-\x08\x0b-\x1f]/g, '')
    .trim();
  return { fields: fieldsOf(text), text, atMs };
}

function fieldsOf(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const token of text.split(/\s+/)) {
    const eq = token.indexOf('=');
    if (eq > 0) fields[token.slice(0, eq)] = token.slice(eq + 1);
  }
  return fields;
}

/** Matches a marker by fields (every given key has that value, or matches the RegExp). */
export type MarkerQuery = Record<string, string | RegExp>;

export function markerMatches(marker: Marker, query: MarkerQuery): boolean {
  return Object.entries(query).every(([key, want]) => {
    const value = marker.fields[key];
    if (value === undefined) return false;
    return typeof want === 'string' ? value === want : want.test(value);
  });
}

/** Splits a growing serial stream into complete lines (the last partial line is kept for the next chunk). */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines;
  }

  flush(): string[] {
    const last = this.rest;
    this.rest = '';
    return last === '' ? [] : [last];
  }
}
