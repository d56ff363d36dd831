// The etcd connection options shared by `abupdate reboot-lock ...` and `abupdate fleet ...` (locksmithctl's flag
// names), and the one function that lays them over update.conf's etcd settings.

import { UpdaterError } from '../../common/errors.js';
import { parseEtcdEndpoints } from '../reboot/etcd-client.js';
import { etcdConnection, type EtcdConnection } from '../reboot/etcd-store.js';
import { stringOption, type CommandContext } from './command.js';
import type { OptionTable } from './options.js';

export const DEFAULT_ETCD_ENDPOINTS = 'http://127.0.0.1:2379';

/** Where etcd is and how to log in: every reboot-lock and fleet subcommand takes these. */
export const ETCD_CONNECTION_OPTIONS = {
  endpoints: {
    type: 'string',
    value: 'URLS',
    help: `etcd client URLs, comma-separated (default: LOCKSMITHD_ENDPOINT or ETCD_ENDPOINTS from\nupdate.conf or $ABUPDATE_ETCD_ENDPOINTS, else ${DEFAULT_ETCD_ENDPOINTS})`,
  },
  endpoint: { type: 'string', value: 'URLS', help: 'the same as --endpoints (locksmithctl\'s name)' },
  'etcd-cafile': { type: 'string', value: 'FILE', help: 'CA bundle for https endpoints', overrides: 'LOCKSMITHD_ETCD_CAFILE' },
  'etcd-certfile': { type: 'string', value: 'FILE', help: 'client certificate, with --etcd-keyfile', overrides: 'LOCKSMITHD_ETCD_CERTFILE' },
  'etcd-keyfile': { type: 'string', value: 'FILE', help: 'key of the client certificate', overrides: 'LOCKSMITHD_ETCD_KEYFILE' },
  'etcd-username': { type: 'string', value: 'USER', help: 'etcd user, with --etcd-password', overrides: 'LOCKSMITHD_ETCD_USERNAME' },
  'etcd-password': { type: 'string', value: 'PASSWORD', help: 'password of the etcd user (never printed)', overrides: 'LOCKSMITHD_ETCD_PASSWORD' },
} as const satisfies OptionTable;

/** The reboot lock may also live in etcd's v2 store (shared with locksmithd); the fleet is v3 only. */
export const ETCD_API_OPTION = {
  'etcd-api': { type: 'string', value: 'v3|v2', help: 'etcd API; v2 shares the lock with locksmithd (etcd must serve its v2 API)', overrides: 'ETCD_API' },
} as const satisfies OptionTable;

/**
 * The etcd connection of this command: the flags above over update.conf's etcd keys (ETCD_ENDPOINTS or
 * LOCKSMITHD_ENDPOINT, ETCD_API, LOCKSMITHD_ETCD_*). update.conf (with its ABUPDATE_<KEY> overrides) is read unless
 * --endpoints is given without --config: endpoints named on the command line are another cluster than the
 * configured one, so its certificates and password are not the configured ones either.
 */
export async function etcdConnectionFromOptions(ctx: CommandContext): Promise<EtcdConnection & { group: string | undefined }> {
  const given = (name: string) => stringOption(ctx.values, name);
  const endpointsFlag = given('endpoints') ?? given('endpoint');
  let endpoints: string[] | undefined;
  if (endpointsFlag !== undefined) {
    endpoints = parseEtcdEndpoints(endpointsFlag);
    if (endpoints === undefined) {
      throw new UpdaterError('ERR_USAGE', `Cannot use the etcd endpoints "${endpointsFlag}": expected comma-separated http:// or https:// URLs`, {
        hint: 'Pass e.g. --endpoints http://10.0.0.1:2379,http://10.0.0.2:2379',
      });
    }
  }
  const api = given('etcd-api');
  if (api !== undefined && api !== 'v2' && api !== 'v3') throw new UpdaterError('ERR_USAGE', `Cannot use --etcd-api "${api}": it is v3 or v2`);
  const values = endpointsFlag === undefined || given('config') !== undefined ? (await ctx.host()).config.values : undefined;
  const connection = etcdConnection(
    values,
    {
      endpoints,
      api,
      caFile: given('etcd-cafile'),
      certFile: given('etcd-certfile'),
      keyFile: given('etcd-keyfile'),
      username: given('etcd-username'),
      password: given('etcd-password'),
    },
    [DEFAULT_ETCD_ENDPOINTS],
  );
  return { ...connection, group: values?.LOCKSMITHD_GROUP || undefined };
}
