// The fuzz targets by name: each module exports `fuzz(data)` and its `contract`.

export const FUZZ_TARGETS = ['bundle-head', 'manifest', 'gpt', 'grubenv', 'omaha-response', 'update-conf', 'channel-index', 'http-response'] as const;

export type FuzzTargetName = (typeof FUZZ_TARGETS)[number];

export function isFuzzTarget(name: string): name is FuzzTargetName {
  return (FUZZ_TARGETS as readonly string[]).includes(name);
}
