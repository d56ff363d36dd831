// Shared setup of update scenarios: a fixed test key, guest versions carrying it, signed bundles, a static channel on 127.0.0.1.

import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { makeBundle, makeKeys, type FixtureKeys } from '../../fixtures/bundle.js';
import { runCli } from '../../fixtures/cli.js';
import { startHttpServer, type TestHttpServer } from '../../fixtures/http-server.js';
import { buildGuest, buildVersionImage, type Guest } from '../guest/build-guest.js';
import type { SlotFiles } from '../guest/slot-image.js';

export const GUEST_COMPATIBLE = 'abupdate-qemu-guest';

export interface ScenarioEnvOptions {
  /** The files of each version, given the trusted public key's bytes (update.conf, boot.sh, a broken /sbin/init, ...). */
  files: (publicKey: Buffer, version: string) => SlotFiles;
  /** Versions to publish as bundles (v1.0.0 is in slot A). */
  bundles: string[];
  /** Publish this version as the static channel `channel/stable.json` (+ .sig) as well. */
  channel?: string;
  /** The bundles' format (default 1); 2 makes them delta-installable (zstd level 3: squashfs is compressed already). */
  bundleFormat?: 1 | 2;
}

export interface ScenarioEnv {
  guest: Guest;
  keys: FixtureKeys;
  server: TestHttpServer;
  /** Each published version's bundle file on the host (served as `vX.Y.Z.bundle`). */
  bundles: Record<string, string>;
  /** The port a Machine's serverPort needs (the guest sees it as 10.0.2.100:8080). */
  port: number;
  /** Makes the static channel (`channel/stable.json` + .sig) offer VERSION (one of bundles) from now on. */
  publish(version: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Builds the guest (v1.0.0 on A, B empty), one bundle per version served as `vX.Y.Z.bundle` and under
 * `channel/`, and the static channel index when asked. The key is deterministic, so slot images stay
 * cached between runs.
 */
export async function prepareScenario(options: ScenarioEnvOptions): Promise<ScenarioEnv> {
  const dir = await mkdtemp(path.join(tmpdir(), 'abupdate-qemu-scenario-'));
  try {
    const keys = await makeKeys(dir, 'qemu', 'qemu-guest');
    const publicKey = await readFile(keys.publicPath);
    const guest = await buildGuest({ slotA: { version: '1.0.0', files: options.files(publicKey, '1.0.0') } });
    const served: Record<string, string> = {};
    const bundles: Record<string, string> = {};
    for (const version of options.bundles) {
      const image = await buildVersionImage({ version, files: options.files(publicKey, version) });
      const name = `v${version}.bundle`;
      const format = options.bundleFormat === 2 ? { format: 2 as const, zstdLevel: 3 } : {};
      const bundle = await makeBundle(dir, { image, version, compatible: GUEST_COMPATIBLE, key: keys, name, ...format });
      served[name] = bundle.path;
      bundles[version] = bundle.path;
      served[`channel/${name}`] = bundle.path;
    }
    const index = path.join(dir, 'stable.json');
    const publish = async (version: string): Promise<void> => {
      const bundle = bundles[version];
      if (bundle === undefined) throw new UpdaterError('ERR_USAGE', `Cannot publish channel version "${version}": it is not in bundles`);
      // Written aside and renamed over the served files, so a guest never reads half an index.
      // The index names its channel after the file (stable.json), so it is written in a subdirectory.
      const next = path.join(dir, 'next', 'stable.json');
      await mkdir(path.dirname(next), { recursive: true });
      const made = await runCli(['bundle', 'index', '--bundle', bundle, '--url', `v${version}.bundle`, '--key', keys.privatePath, '--out', next]);
      if (made.code !== 0) throw new UpdaterError('ERR_TOOL_FAILED', `Cannot write the channel index: ${made.stderr.trim()}`);
      await rename(`${next}.sig`, `${index}.sig`);
      await rename(next, index);
      served['channel/stable.json'] = index;
      served['channel/stable.json.sig'] = `${index}.sig`;
    };
    if (options.channel !== undefined) await publish(options.channel);
    const server = await startHttpServer(served);
    return {
      guest,
      keys,
      server,
      bundles,
      port: Number(new URL(server.origin).port),
      publish,
      close: async () => {
        await server.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
