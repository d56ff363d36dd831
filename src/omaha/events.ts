// Omaha event types, results and update_engine error codes, and the events abupdate reports during an update.

import type { ErrorCode } from '../../common/errors.js';

/** From update_engine's OmahaEvent (omaha_request_action.h). */
export const EVENT_TYPE = { updateComplete: 3, downloadStarted: 13, downloadFinished: 14 } as const;
export const EVENT_RESULT = { error: 0, success: 1, successReboot: 2 } as const;

export interface OmahaEvent {
  type: number;
  result: number;
  /** Only with result 0 (error). */
  errorCode?: number;
  previousVersion?: string;
}

/** What the daemon tells the update server about, in the order of an update. */
export type UpdateEvent =
  | { kind: 'download-started'; version: string }
  | { kind: 'download-finished'; version: string }
  | { kind: 'installed'; version: string }
  | { kind: 'complete-after-reboot'; version: string; previousVersion: string }
  | { kind: 'error'; code: ErrorCode; version?: string; httpStatus?: number; message?: string };

/** update_engine's ActionExitCode values (action_processor.h) that Nebraska's dashboard decodes. */
export const ACTION_CODE = {
  error: 1,
  omahaRequestError: 2,
  downloadTransferError: 9,
  payloadHashMismatchError: 10,
  payloadSizeMismatchError: 11,
  downloadPayloadVerificationError: 12,
  downloadWriteError: 14,
  newRootfsVerificationError: 15,
  downloadPayloadPubKeyVerificationError: 18,
  omahaRequestXMLParseError: 31,
  omahaResponseInvalid: 34,
  rollbackError: 44,
  httpResponseBase: 2000,
} as const;

/** The errorcode sent in a 3/0 event for an UpdaterError code (HTTP statuses as 2000 + status, like update_engine). */
export function actionCodeFor(code: ErrorCode, httpStatus?: number): number {
  switch (code) {
    case 'ERR_HTTP_STATUS':
      return httpStatus !== undefined && httpStatus > 0 && httpStatus < 1000 ? ACTION_CODE.httpResponseBase + httpStatus : ACTION_CODE.downloadTransferError;
    case 'ERR_NETWORK':
    case 'ERR_TIMEOUT':
    case 'ERR_ABORTED':
      return ACTION_CODE.downloadTransferError;
    case 'ERR_CHUNK_HASH':
    case 'ERR_IMAGE_HASH':
    case 'ERR_OMAHA_HASH':
      return ACTION_CODE.payloadHashMismatchError;
    case 'ERR_BUNDLE_SIZE':
    case 'ERR_BUNDLE_TRUNCATED':
    case 'ERR_BUNDLE_TRAILING':
    case 'ERR_IMAGE_TOO_LARGE':
      return ACTION_CODE.payloadSizeMismatchError;
    case 'ERR_SIGNATURE':
    case 'ERR_MANIFEST_JSON':
    case 'ERR_MANIFEST_FORMAT':
    case 'ERR_MANIFEST_FIELD':
    case 'ERR_MANIFEST_CHUNKS':
    case 'ERR_MANIFEST_LIMIT':
    case 'ERR_BUNDLE_MEMBER':
    case 'ERR_BUNDLE_ORDER':
    case 'ERR_BUNDLE_TAR':
    case 'ERR_INCOMPATIBLE':
    case 'ERR_EXPIRED':
    case 'ERR_DOWNGRADE':
    case 'ERR_BELOW_FLOOR':
    case 'ERR_MIN_VERSION':
      return ACTION_CODE.downloadPayloadVerificationError;
    case 'ERR_KEY_UNKNOWN':
    case 'ERR_KEY_REVOKED':
    case 'ERR_KEY_FORMAT':
      return ACTION_CODE.downloadPayloadPubKeyVerificationError;
    case 'ERR_NO_SPACE':
    case 'ERR_IO':
      return ACTION_CODE.downloadWriteError;
    case 'ERR_READBACK':
      return ACTION_CODE.newRootfsVerificationError;
    case 'ERR_OMAHA_XML':
    case 'ERR_RESPONSE_TOO_LARGE':
      return ACTION_CODE.omahaRequestXMLParseError;
    case 'ERR_OMAHA_STATUS':
      return ACTION_CODE.omahaResponseInvalid;
    case 'ERR_ROLLBACK':
      return ACTION_CODE.rollbackError;
    default:
      return ACTION_CODE.error;
  }
}

/** The Omaha event for an update event: 13/1, 14/1, 3/1, 3/2 with previousversion, 3/0 with errorcode. */
export function omahaEventFor(event: UpdateEvent): OmahaEvent {
  switch (event.kind) {
    case 'download-started':
      return { type: EVENT_TYPE.downloadStarted, result: EVENT_RESULT.success };
    case 'download-finished':
      return { type: EVENT_TYPE.downloadFinished, result: EVENT_RESULT.success };
    case 'installed':
      return { type: EVENT_TYPE.updateComplete, result: EVENT_RESULT.success };
    case 'complete-after-reboot':
      return { type: EVENT_TYPE.updateComplete, result: EVENT_RESULT.successReboot, previousVersion: event.previousVersion };
    case 'error':
      return { type: EVENT_TYPE.updateComplete, result: EVENT_RESULT.error, errorCode: actionCodeFor(event.code, event.httpStatus) };
  }
}
