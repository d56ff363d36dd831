// TLS and credentials for every HTTP client abupdate runs (update server, payload, etcd, FleetLock): the CA bundle
// and client certificate files as got's `https` options or node:https's, certificate failures as ERR_TLS, no https ->
// http downgrade.

import { readFile } from 'node:fs/promises';
import type { OptionsInit } from 'got';
import { UpdaterError } from '../../common/errors.js';

/** Paths of PEM files; any may be absent (the system CAs and no client certificate are then used). */
export interface TlsFiles {
  /** A CA bundle to trust instead of the system's (SERVER_CAFILE, LOCKSMITHD_ETCD_CAFILE). */
  caFile?: string | undefined;
  /** A client certificate for mutual TLS, with its key. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/** The file contents: got's `https` options as they are, node:https's through tlsRequestOptions. */
export interface TlsMaterial {
  certificateAuthority?: Buffer;
  certificate?: Buffer;
  key?: Buffer;
}

async function readPem(file: string, what: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new UpdaterError('ERR_TLS', `Cannot read the ${what} "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      cause: error,
      data: { file, setting },
      hint: `Check ${setting}: it must name a readable PEM file.`,
    });
  }
}

/** Reads the files once. A certificate without its key (or the other way round) is refused. */
export async function loadTlsMaterial(files: TlsFiles, settings: { ca: string; cert: string; key: string }): Promise<TlsMaterial> {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new UpdaterError('ERR_CONFIG', `Cannot use a client certificate: ${settings.cert} and ${settings.key} must be set together`, {
      hint: `Set both ${settings.cert} (the certificate) and ${settings.key} (its private key), or neither.`,
    });
  }
  const material: TlsMaterial = {};
  if (files.caFile !== undefined) material.certificateAuthority = await readPem(files.caFile, 'CA bundle', settings.ca);
  if (files.certFile !== undefined) material.certificate = await readPem(files.certFile, 'client certificate', settings.cert);
  if (files.keyFile !== undefined) material.key = await readPem(files.keyFile, 'client key', settings.key);
  return material;
}

/** The TLS material as node:https request options (`ca`, `cert`, `key`), for the download (src/download/http-get.ts). */
export function tlsRequestOptions(material: TlsMaterial | undefined): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (material?.certificateAuthority !== undefined) options.ca = material.certificateAuthority;
  if (material?.certificate !== undefined) options.cert = material.certificate;
  if (material?.key !== undefined) options.key = material.key;
  return options;
}

/**
 * Throws ERR_TLS for a redirect that leaves https for plain http (a certificate or policy problem must never be
 * "solved" by a server sending us elsewhere without TLS). Every client's redirects go through it.
 */
export function refuseDowngrade(from: URL | undefined, to: URL | undefined): void {
  if (from?.protocol === 'https:' && to?.protocol === 'http:') {
    throw new UpdaterError('ERR_TLS', `Cannot follow the redirect from ${from.origin} to ${to.origin}: it leaves https for plain http`, {
      data: { from: from.href, to: to.href },
      hint: 'Fix the server\'s redirect; abupdate never downgrades to plain HTTP.',
    });
  }
}

/** got options for one request: the TLS material, and a redirect hook that refuses to leave https (refuseDowngrade). */
export function gotTlsOptions(material: TlsMaterial | undefined): Pick<OptionsInit, 'https' | 'hooks'> {
  return {
    ...(material === undefined || Object.keys(material).length === 0 ? {} : { https: { ...material } }),
    hooks: {
      beforeRedirect: [
        (options, response) => {
          const from = response.url === undefined ? undefined : new URL(response.url);
          const to = options.url instanceof URL ? options.url : options.url === undefined ? undefined : new URL(String(options.url));
          refuseDowngrade(from, to);
        },
      ],
    },
  };
}

/** OpenSSL / Node codes of a certificate the server presented that we do not accept. */
const SERVER_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** Codes of a TLS alert the server sent about our client certificate, or a failed handshake. */
function isClientCertRefusal(code: string): boolean {
  return /^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT_/.test(code) || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO';
}

/**
 * An ERR_TLS for a certificate failure of a request to `url`, or undefined when `error` is something else.
 * The message names the problem (untrusted, expired, wrong name, refused client certificate) and never a secret.
 */
export function tlsErrorFor(error: unknown, what: string, url: string): UpdaterError | undefined {
  const e = error as { code?: string; message?: string; cause?: { code?: string } } | undefined;
  const code = e?.code ?? '';
  const causeCode = e?.cause?.code ?? '';
  const tlsCode = SERVER_CERT_CODES.has(code) || isClientCertRefusal(code) ? code : SERVER_CERT_CODES.has(causeCode) || isClientCertRefusal(causeCode) ? causeCode : '';
  if (tlsCode === '') return undefined;
  let origin = url;
  try {
    origin = new URL(url).origin;
  } catch {
    // keep it as given
  }
  const reason =
    tlsCode === 'CERT_HAS_EXPIRED'
      ? 'its certificate has expired'
      : tlsCode === 'CERT_NOT_YET_VALID'
        ? 'its certificate is not valid yet'
        : tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID' || tlsCode === 'HOSTNAME_MISMATCH'
          ? 'its certificate is for another name'
          : SERVER_CERT_CODES.has(tlsCode)
            ? 'its certificate is not signed by a trusted CA'
            : /CERTIFICATE_EXPIRED/.test(tlsCode)
              ? 'it refused our client certificate: expired'
              : /UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE/.test(tlsCode)
                ? 'it refused our client certificate (missing, or not signed by a CA it trusts)'
                : 'the TLS handshake failed';
  return new UpdaterError('ERR_TLS', `Cannot ${what}: ${origin} failed TLS verification: ${reason} (${tlsCode})`, {
    cause: error,
    data: { url: origin, tlsCode },
    hint: SERVER_CERT_CODES.has(tlsCode)
      ? 'Check the CA bundle (SERVER_CAFILE / LOCKSMITHD_ETCD_CAFILE) and the server\'s certificate; nothing is retried without TLS.'
      : 'Check the client certificate and key (SERVER_CERTFILE/_KEYFILE, LOCKSMITHD_ETCD_CERTFILE/_KEYFILE) and that the server trusts their CA.',
  });
}
