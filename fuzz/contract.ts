// What every fuzz target promises: a valid parse or a typed UpdaterError with one of its codes; anything else
// (another exception, a code outside the list, a hang, memory past the bound) is a finding.

import { UpdaterError, type ErrorCode } from '../common/errors.js';

export interface FuzzContract {
  /** The UpdaterError codes this parser may refuse an input with; any other code is a finding. */
  codes: readonly ErrorCode[];
  /** Longest input libFuzzer makes (-max_len). */
  maxLen: number;
  /** One input taking longer than this is a hang (Jazzer --timeout). */
  timeoutMs: number;
  /** Whole-process RSS bound (libFuzzer -rss_limit_mb): Node with Jazzer starts near 170 MB. */
  maxRssMb: number;
  /** The target function is synchronous (Jazzer --sync: faster). */
  sync: boolean;
}

/** Thrown for an input that breaks the contract; Jazzer reports it as a crash and saves the input. */
export class ContractBreach extends Error {
  override name = 'ContractBreach';
}

function judge(error: unknown, codes: readonly ErrorCode[]): void {
  if (error instanceof UpdaterError) {
    if (codes.includes(error.code)) return;
    throw new ContractBreach(`UpdaterError ${error.code} is not one this parser may throw (${codes.join(', ')}): ${error.message}`, { cause: error });
  }
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  throw new ContractBreach(`not an UpdaterError: ${what}`, { cause: error });
}

/** Runs FN; a thrown UpdaterError with one of CODES passes, anything else is rethrown as a ContractBreach. */
export function withinContract(codes: readonly ErrorCode[], fn: () => void): void {
  try {
    fn();
  } catch (error) {
    judge(error, codes);
  }
}

export async function withinContractAsync(codes: readonly ErrorCode[], fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    judge(error, codes);
  }
}

/** A property of a valid parse that failed (for example a round trip): also a finding. */
export function expect(condition: boolean, message: string): void {
  if (!condition) throw new ContractBreach(message);
}
