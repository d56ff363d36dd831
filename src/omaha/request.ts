// Builds Omaha v3 request XML the way Flatcar's update_engine writes it, so Nebraska treats us like a Flatcar host.

import { arch } from 'node:os';
import { UpdaterError } from '../../common/errors.js';
import type { OmahaEvent } from './events.js';
import type { HostIdentity } from './host-identity.js';

/** Nebraska refuses request bodies over 64 KiB; ours stay far below, and this proves it. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export interface OmahaClientInfo extends HostIdentity {
  appId: string;
  /** The running OS version (semver: Nebraska requires it). */
  version: string;
  /** GROUP from update.conf. */
  track: string;
  /** The version first installed on this host. */
  alephVersion: string;
  /** request@version and @updaterversion, e.g. "abupdate-0.1.0". */
  updaterVersion: string;
  machineAlias?: string;
  lang?: string;
}

export type OmahaRequestKind =
  /** A scheduled or on-demand update check: ping, updatecheck, and optionally one event (3/2 after a reboot). */
  | { kind: 'updatecheck'; interactive: boolean; event?: OmahaEvent }
  /** An event alone (13/1, 14/1, 3/1, 3/0), as update_engine sends them. */
  | { kind: 'event'; interactive: boolean; event: OmahaEvent }
  /** A ping alone (while an installed update waits for the reboot). */
  | { kind: 'ping'; interactive: boolean };

/** Escapes text for an XML attribute value. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch] ?? ch);
}

function attrs(pairs: [string, string][]): string {
  return pairs.map(([name, value]) => `${name}="${xmlEscape(value)}"`).join(' ');
}

function eventXml(event: OmahaEvent): string {
  const pairs: [string, string][] = [
    ['eventtype', String(event.type)],
    ['eventresult', String(event.result)],
  ];
  if (event.errorCode !== undefined) pairs.push(['errorcode', String(event.errorCode)]);
  if (event.previousVersion !== undefined) pairs.push(['previousversion', event.previousVersion]);
  if (event.downloaded !== undefined) pairs.push(['downloaded', String(event.downloaded)]);
  if (event.total !== undefined) pairs.push(['total', String(event.total)]);
  return `        <event ${attrs(pairs)}></event>\n`;
}

/** The whole request document. */
export function buildOmahaRequest(info: OmahaClientInfo, request: OmahaRequestKind): string {
  let body = '';
  if (request.kind === 'updatecheck' || request.kind === 'ping') body += '        <ping active="1"></ping>\n';
  if (request.kind === 'updatecheck') body += '        <updatecheck></updatecheck>\n';
  if ((request.kind === 'updatecheck' || request.kind === 'event') && request.event !== undefined) body += eventXml(request.event);
  const machine = arch() === 'x64' ? 'x86_64' : arch() === 'arm64' ? 'aarch64' : arch();
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<request ${attrs([
      ['protocol', '3.0'],
      ['version', info.updaterVersion],
      ['updaterversion', info.updaterVersion],
      ['installsource', request.interactive ? 'ondemandupdate' : 'scheduler'],
      ['ismachine', '1'],
    ])}>\n` +
    `    <os ${attrs([
      ['version', 'abupdate'],
      ['platform', 'abupdate'],
      ['sp', `${info.version}_${machine}`],
    ])}></os>\n` +
    `    <app ${attrs([
      ['appid', info.appId],
      ['version', info.version],
      ['track', info.track],
      ['bootid', info.bootId],
      ['oem', info.oem],
      ['oemversion', info.oemVersion],
      ['alephversion', info.alephVersion],
      ['machineid', info.machineId],
      ['machinealias', info.machineAlias ?? ''],
      ['lang', info.lang ?? 'en-US'],
      ['board', info.board],
      ['hardware_class', ''],
      ['delta_okay', 'false'],
    ])} >\n` +
    body +
    '    </app>\n' +
    '</request>\n';
  const size = Buffer.byteLength(xml);
  if (size > MAX_REQUEST_BYTES) {
    throw new UpdaterError('ERR_OMAHA_XML', `Cannot build the Omaha request: it is ${size} bytes, more than the ${MAX_REQUEST_BYTES} a server accepts`, {
      data: { size },
      hint: 'Shorten GROUP, APP_ID or the OEM release values.',
    });
  }
  return xml;
}
