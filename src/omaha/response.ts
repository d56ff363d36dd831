// Parses an Omaha v3 response the way update_engine reads it: the first app's updatecheck, its URLs, first package and postinstall sha256.

import { XMLValidator } from 'fast-xml-parser';
import { createOmahaXmlParser } from './xml-parser.js';
import { UpdaterError } from '../../common/errors.js';

export type OmahaCheckResult =
  | { status: 'noupdate'; pollInterval?: number }
  | {
      status: 'ok';
      /** manifest@version */
      version: string;
      /** Every payload URL in order: codebase + "/" + package name. */
      urls: string[];
      packageName: string;
      size: number;
      /** The postinstall action's sha256: base64 SHA-256 of the whole payload. */
      sha256: string;
      /** updatecheck@PollInterval, in seconds, when the server sets one. */
      pollInterval?: number;
    };

type Node = Record<string, unknown>;

const parser = createOmahaXmlParser(['app', 'url', 'package', 'event', 'action', 'manifest']);

function xmlError(why: string, data: Record<string, unknown> = {}): UpdaterError {
  return new UpdaterError('ERR_OMAHA_XML', `Cannot read the Omaha response: ${why}`, {
    data,
    hint: 'Check SERVER: it must be an Omaha v3 endpoint (for Nebraska: https://HOST/v1/update/).',
  });
}

function node(value: unknown): Node | undefined {
  if (value === '') return {}; // an empty element such as <updatecheck/>
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Node) : undefined;
}

function list(value: unknown): Node[] {
  return Array.isArray(value) ? value.map(node).filter((n): n is Node => n !== undefined) : [];
}

function attr(n: Node | undefined, name: string): string | undefined {
  const value = n?.[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

/** Parses the text of a response to an update check. Throws ERR_OMAHA_XML or ERR_OMAHA_STATUS, never anything else. */
export function parseOmahaResponse(xml: string): OmahaCheckResult {
  if (xml.trim() === '') throw xmlError('the body is empty');
  if (/<!DOCTYPE/i.test(xml)) throw xmlError('it contains a DOCTYPE, which Omaha responses never have');
  if (xml.replace(/^\s*<\?xml[^>]*\?>/, '').trim() === '') throw xmlError('the body holds only an XML declaration, there is no <response> element');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw xmlError(`malformed XML at line ${valid.err.line}: ${valid.err.msg}`, { line: valid.err.line, reason: valid.err.code });
  }
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (error) {
    throw xmlError(`malformed XML: ${(error as Error).message}`);
  }
  const response = node(doc.response);
  if (response === undefined) throw xmlError('there is no <response> element');
  const protocol = attr(response, 'protocol');
  if (protocol !== '3.0') throw xmlError(`protocol is "${protocol ?? ''}", not "3.0"`, { protocol });
  const app = list(response.app)[0];
  if (app === undefined) throw xmlError('there is no <app> element');
  const appStatus = attr(app, 'status');
  const updatecheck = node(app.updatecheck);
  if (appStatus !== undefined && appStatus.startsWith('error-')) throw statusError('app', appStatus, attr(updatecheck, 'status'));
  if (updatecheck === undefined) throw xmlError('the <app> has no <updatecheck> element');
  const status = attr(updatecheck, 'status');
  if (status === undefined) throw xmlError('the <updatecheck> has no status');
  const pollInterval = parsePollInterval(attr(updatecheck, 'PollInterval'));
  const poll = pollInterval === undefined ? {} : { pollInterval };
  if (status === 'noupdate') return { status: 'noupdate', ...poll };
  if (status !== 'ok') throw statusError('updatecheck', status, undefined);

  const manifest = list(updatecheck.manifest)[0];
  if (manifest === undefined) throw xmlError('the update has no <manifest>');
  const version = attr(manifest, 'version');
  if (version === undefined || version === '') throw xmlError('the <manifest> has no version');
  const codebases = list(node(updatecheck.urls)?.url).map((u) => attr(u, 'codebase') ?? '');
  if (codebases.length === 0) throw xmlError('the update has no <urls><url codebase=...>');
  if (codebases.some((c) => c === '')) throw xmlError('a <url> has an empty codebase');
  const pkg = list(node(manifest.packages)?.package)[0];
  if (pkg === undefined) throw xmlError('the <manifest> has no <package>');
  const packageName = attr(pkg, 'name') ?? '';
  if (packageName === '' || packageName.includes('/') || packageName === '..') {
    throw xmlError(`the package name "${packageName}" is empty or not a plain file name`, { packageName });
  }
  const sizeText = attr(pkg, 'size') ?? '';
  const size = Number(sizeText);
  if (!/^\d+$/.test(sizeText) || !Number.isSafeInteger(size) || size <= 0) {
    throw xmlError(`the package size "${sizeText}" is not a positive whole number`, { size: sizeText });
  }
  const postinstall = list(node(manifest.actions)?.action).find((a) => attr(a, 'event') === 'postinstall');
  const sha256 = attr(postinstall, 'sha256') ?? '';
  if (postinstall === undefined) throw xmlError('the <manifest> has no postinstall <action> (which carries the sha256)');
  if (!/^[A-Za-z0-9+/]{43}=$/.test(sha256)) throw xmlError(`the postinstall sha256 "${sha256}" is not a base64 SHA-256`, { sha256 });
  const urls = codebases.map((c) => (c.endsWith('/') ? c : `${c}/`) + packageName);
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw xmlError(`the payload URL "${url}" is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw xmlError(`the payload URL "${url}" is not http or https`);
  }
  return { status: 'ok', version, urls, packageName, size, sha256, ...poll };
}

function parsePollInterval(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const seconds = Number(text);
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

function statusError(where: 'app' | 'updatecheck', status: string, updatecheckStatus: string | undefined): UpdaterError {
  const data: Record<string, unknown> = { status, where };
  if (updatecheckStatus !== undefined) data.updatecheckStatus = updatecheckStatus;
  return new UpdaterError('ERR_OMAHA_STATUS', `Cannot get an update: the server answered ${where} status "${status}"`, {
    data,
    hint:
      status === 'error-unknownApplication' || status === 'error-invalidAppId' || status === 'error-failedToRetrieveUpdatePackageInfo'
        ? 'Check APP_ID and GROUP against the server.'
        : 'The server refused or deferred the update; the next check will ask again.',
  });
}
