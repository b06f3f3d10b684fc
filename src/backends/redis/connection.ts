import { Redis, type RedisOptions } from 'ioredis';
import { TlsConnector } from './tls-connector.js';

/**
 * The `--log` values that name a Redis, and how each becomes an ioredis client:
 *
 * - `redis://[user:password@]host:port/db`: one server; `rediss://` the same over TLS (the server's
 *   certificate is checked against Node's CAs: add a private CA with `NODE_EXTRA_CA_CERTS`; see
 *   `tls-connector.ts`).
 * - `redis+sentinel://[user:password@]host[:port][,host[:port]…]/<master>[/db]`: the primary that Redis
 *   Sentinel names for `<master>`, asked of the sentinels listed (port 26379 by default). The user and
 *   password are the data nodes'; the sentinels' own go in `?sentinelUsername=` and `?sentinelPassword=`.
 *   After a failover every connection finds the new primary through the sentinels.
 *
 * Any of them may add `?replicas=N`: a publish is acknowledged only once N replicas have it (Redis `WAIT`),
 * so a failover to one of them cannot lose it (`replicasOf`).
 */
export const REDIS_URL_FORMS = 'redis[s]://host:port/db or redis+sentinel://host:port[,host:port…]/master';

const SENTINEL_SCHEME = 'redis+sentinel://';
/** The query parameter of Herald's own: how many replicas must have a message before it is acknowledged. */
const REPLICAS = 'replicas';
const REPLICA_COUNT = /^\d{1,2}$/;
const DEFAULT_SENTINEL_PORT = 26379;
/** Query parameters a Sentinel URL may carry; anything else is refused, so a typo is not ignored. */
const SENTINEL_PARAMETERS = new Set(['sentinelUsername', 'sentinelPassword', REPLICAS]);

/** A primary found through Sentinel, as `redis+sentinel://` names it. */
interface SentinelTarget {
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  readonly name: string;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
  readonly replicas: number;
}

/** True when `url` names a Redis (by its scheme); `redisUrlValid` says whether it is complete. */
export function claimsRedisUrl(url: string): boolean {
  return url.startsWith('redis://') || url.startsWith('rediss://') || url.startsWith(SENTINEL_SCHEME);
}

/** True when a claimed `url` can be opened: a parsable server URL, or a complete Sentinel URL. */
export function redisUrlValid(url: string): boolean {
  if (url.startsWith(SENTINEL_SCHEME)) return parseSentinelUrl(url) !== undefined;
  if (!/^rediss?:\/\/./.test(url) || !URL.canParse(url)) return false;
  const replicas = new URL(url).searchParams.get(REPLICAS);
  return replicas === null || REPLICA_COUNT.test(replicas);
}

/** The replicas a publish waits for (`?replicas=N`, 0 when absent) of a valid `url`. */
export function replicasOf(url: string): number {
  if (url.startsWith(SENTINEL_SCHEME)) return parseSentinelUrl(url)?.replicas ?? 0;
  return Number(new URL(url).searchParams.get(REPLICAS) ?? 0);
}

/** `url` without Herald's own parameter: ioredis takes every other one as a client option. */
function withoutReplicas(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has(REPLICAS)) return url;
  parsed.searchParams.delete(REPLICAS);
  return parsed.toString();
}

/**
 * A client of the Redis `url` names, with `options` (Herald's timeouts and retries) on top; with Sentinel,
 * `options.sentinelRetryStrategy` says what to do when no sentinel answers.
 */
export function redisClient(url: string, options: RedisOptions): Redis {
  if (url.startsWith('rediss://'))
    return new Redis(withoutReplicas(url), { ...options, Connector: TlsConnector });
  if (!url.startsWith(SENTINEL_SCHEME)) return new Redis(withoutReplicas(url), options);
  const target = parseSentinelUrl(url);
  if (target === undefined) throw new Error('invalid Redis Sentinel URL');
  return new Redis({
    ...options,
    sentinels: [...target.sentinels],
    name: target.name,
    db: target.db,
    role: 'master',
    username: target.username,
    password: target.password,
    sentinelUsername: target.sentinelUsername,
    sentinelPassword: target.sentinelPassword,
    // Told of `+switch-master` by the sentinels: reconnect to the new primary at once, rather than keep
    // writing to a demoted one until it drops the connection.
    failoverDetector: true,
  });
}

const SENTINEL_URL =
  /^redis\+sentinel:\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?([^@/?#]+)\/([^/?#]+)(?:\/(\d+))?\/?(?:\?([^#]*))?$/;
const SENTINEL_HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;

/** The parts of a `redis+sentinel://` URL; undefined when any part is missing or malformed. */
function parseSentinelUrl(url: string): SentinelTarget | undefined {
  const match = SENTINEL_URL.exec(url);
  if (match === null) return undefined;
  const [, user, password, hosts, name, db, query] = match;
  const sentinels: { host: string; port: number }[] = [];
  for (const item of (hosts as string).split(',')) {
    const host = SENTINEL_HOST.exec(item);
    if (host === null) return undefined;
    const port = host[2] === undefined ? DEFAULT_SENTINEL_PORT : Number(host[2]);
    if (port < 1 || port > 65535) return undefined;
    sentinels.push({ host: (host[1] as string).replace(/^\[|\]$/g, ''), port });
  }
  const params = new URLSearchParams(query ?? '');
  for (const key of params.keys()) if (!SENTINEL_PARAMETERS.has(key)) return undefined;
  const replicas = params.get(REPLICAS);
  if (replicas !== null && !REPLICA_COUNT.test(replicas)) return undefined;
  try {
    return {
      sentinels,
      name: decodeURIComponent(name as string),
      db: db === undefined ? 0 : Number(db),
      replicas: replicas === null ? 0 : Number(replicas),
      ...(user ? { username: decodeURIComponent(user) } : {}),
      ...(password ? { password: decodeURIComponent(password) } : {}),
      ...(params.has('sentinelUsername')
        ? { sentinelUsername: params.get('sentinelUsername') as string }
        : {}),
      ...(params.has('sentinelPassword')
        ? { sentinelPassword: params.get('sentinelPassword') as string }
        : {}),
    };
  } catch {
    // A malformed percent-escape.
    return undefined;
  }
}
