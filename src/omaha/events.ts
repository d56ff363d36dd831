// Omaha event types, results and update_engine error codes, and the events abupdate reports during an update.

import type { ErrorCode } from '../../common/errors.js';

/**
 * From update_engine's OmahaEvent (omaha_request_action.h), plus 800 "Install success. Update completion prevented
 * by instance." (Nebraska's EventUpdateInstalled, backend/pkg/api/events.go; update_engine never sends it).
 */
export const EVENT_TYPE = { updateComplete: 3, downloadStarted: 13, downloadFinished: 14, updateInstalled: 800 } as const;
export const EVENT_RESULT = { error: 0, success: 1, successReboot: 2 } as const;

export interface OmahaEvent {
  type: number;
  result: number;
  /** Download finished (14): bytes received from the server and the bundle's size (Omaha v3's `downloaded`, `total`). */
  downloaded?: number;
  total?: number;
  /** Only with result 0 (error). */
  errorCode?: number;
  previousVersion?: string;
}

/** Flatcar's Omaha app id. Nebraska gives it its own event rules (`flatcarAppID` in backend/pkg/api/applications.go). */
export const FLATCAR_APP_ID = 'e96281a6-d1af-4bde-9a0a-97b76e56dc57';

/** Whether an app id is Flatcar's, with or without braces, in any case (Nebraska's GetAppID accepts both). */
export function isFlatcarAppId(appId: string): boolean {
  return appId.replace(/^\{(.*)\}$/, '$1').toLowerCase() === FLATCAR_APP_ID;
}

/** What the daemon tells the update server about, in the order of an update. */
export type UpdateEvent =
  | { kind: 'download-started'; version: string }
  | { kind: 'download-finished'; version: string; downloaded?: number; total?: number }
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
    case 'ERR_INDEX_HASH':
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
    case 'ERR_INDEX':
    case 'ERR_CHUNK_INFLATE':
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

/**
 * The Omaha event for an update event: 13/1, 14/1, then "installed" (see below), 3/2 with previousversion after
 * the commit, 3/0 with errorcode on an error or rollback.
 *
 * "installed" depends on the app id, because Nebraska's triggerEventConsequences does: for Flatcar's app id 3/1
 * changes nothing and only 3/2 completes the update, which is what update_engine sends; for any other app id 3/1
 * already marks the instance Complete and clears update_in_progress, after which the 3/2 or the rollback's 3/0
 * is refused (ErrNoUpdateInProgress). So a custom app id reports 800/1 ("installed, completion pending"), which
 * Nebraska maps to Installed and which keeps the update in progress until 3/2 or 3/0.
 */
export function omahaEventFor(event: UpdateEvent, appId: string): OmahaEvent {
  switch (event.kind) {
    case 'download-started':
      return { type: EVENT_TYPE.downloadStarted, result: EVENT_RESULT.success };
    case 'download-finished':
      return {
        type: EVENT_TYPE.downloadFinished,
        result: EVENT_RESULT.success,
        ...(event.downloaded === undefined ? {} : { downloaded: event.downloaded }),
        ...(event.total === undefined ? {} : { total: event.total }),
      };
    case 'installed':
      return isFlatcarAppId(appId)
        ? { type: EVENT_TYPE.updateComplete, result: EVENT_RESULT.success }
        : { type: EVENT_TYPE.updateInstalled, result: EVENT_RESULT.success };
    case 'complete-after-reboot':
      return { type: EVENT_TYPE.updateComplete, result: EVENT_RESULT.successReboot, previousVersion: event.previousVersion };
    case 'error':
      return { type: EVENT_TYPE.updateComplete, result: EVENT_RESULT.error, errorCode: actionCodeFor(event.code, event.httpStatus) };
  }
}
