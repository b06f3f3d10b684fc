import { parseArgs } from 'node:util';
import { logUrlProblem } from './backends/registry.js';

/** How an option's text becomes its value: each kind has one parser and one value type. */
interface KindValues {
  /** A positive integer. */
  integer: number;
  /** 0 (no limit) or a positive integer. */
  limit: number;
  /** Any non-empty text. */
  string: string;
  /** Text; empty means unset. */
  optional: string | undefined;
  /** Comma-separated items; empty means none. */
  list: readonly string[];
  boolean: boolean;
  /** `500ms`, `15s`, `5m`, `1h` (a bare number is seconds), in milliseconds. */
  duration: number;
  /** `65536`, `64KiB`, `1MiB`, in bytes. */
  bytes: number;
  port: number;
  /** A port, or empty for unset. */
  'optional-port': number | undefined;
  /** One of the option's `choices`. */
  choice: string;
  /** Fastify's `trustProxy`: `true`, a hop count, or addresses/CIDRs; empty, `false` or `0` for unset. */
  proxies: boolean | number | string | undefined;
}

type Kind = keyof KindValues;

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly default: string;
  readonly help: string;
  readonly choices?: readonly string[];
  /** Placeholder of the value in `--help`, when the kind says too little (`secret`, `path`, `url`). */
  readonly meta?: string;
}

/**
 * The option table, the one place an option is written: `Config`'s type, parsing, validation and `--help`
 * all derive from it (and a test checks the README's table against it), so they cannot disagree.
 */
export const OPTION_TABLE = {
  port: { flag: 'port', env: 'HERALD_PORT', kind: 'port', default: '8080', help: 'listen port' },
  /** `0.0.0.0` (every interface); with `--dev` and no host given, `DEV_HOST` instead (see `loadConfig`). */
  host: {
    flag: 'host',
    env: 'HERALD_HOST',
    kind: 'string',
    default: '0.0.0.0',
    help: 'listen address; with --dev 127.0.0.1 (this machine only) unless set',
  },
  dev: {
    flag: 'dev',
    env: 'HERALD_DEV',
    kind: 'boolean',
    default: 'false',
    help: 'development mode: ?user= and ?group= identities, open CORS (never in production)',
  },
  /** `memory`, `sqlite:<path>`, `redis://…`, `rediss://…` or `redis+sentinel://…` (see `backends/redis/connection.ts`). */
  log: {
    flag: 'log',
    env: 'HERALD_LOG',
    kind: 'string',
    default: 'memory',
    help: 'message log: memory, sqlite:<path>, redis[s]://host:port/db or redis+sentinel://…/master',
  },
  /** Prefix of every Redis key and channel Herald uses, so several clusters can share one Redis. */
  redisPrefix: {
    flag: 'redis-prefix',
    env: 'HERALD_REDIS_PREFIX',
    kind: 'string',
    default: 'herald:',
    help: 'prefix of the Redis keys of this cluster (with --log redis://)',
  },
  /** Clustered presence: a node that stops heartbeating drops out of the counts after this long. */
  presenceTtlMs: {
    flag: 'presence-ttl',
    env: 'HERALD_PRESENCE_TTL',
    kind: 'duration',
    default: '15s',
    help: 'with Redis: a node that stops heartbeating leaves the presence counts after this long',
  },
  logLevel: {
    flag: 'log-level',
    env: 'HERALD_LOG_LEVEL',
    kind: 'choice',
    default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    help: 'level of the JSON logs on stdout',
  },
  heartbeatMs: {
    flag: 'heartbeat',
    env: 'HERALD_HEARTBEAT',
    kind: 'duration',
    default: '15s',
    help: 'interval of the keep-alive comment on idle streams (0 disables)',
  },
  retryMs: {
    flag: 'retry',
    env: 'HERALD_RETRY',
    kind: 'duration',
    default: '3s',
    help: 'reconnect delay hinted to clients (SSE retry:)',
  },
  maxBufferedBytes: {
    flag: 'max-buffered',
    env: 'HERALD_MAX_BUFFERED',
    kind: 'bytes',
    default: '1MiB',
    help: 'unsent output after which a slow connection is closed (its client resumes losslessly)',
  },
  bodyLimitBytes: {
    flag: 'body-limit',
    env: 'HERALD_BODY_LIMIT',
    kind: 'bytes',
    default: '64KiB',
    help: 'largest accepted request body (413 beyond)',
  },
  historySize: {
    flag: 'history-size',
    env: 'HERALD_HISTORY_SIZE',
    kind: 'integer',
    default: '10000',
    help: 'messages kept for replay after a reconnect',
  },
  historyAgeMs: {
    flag: 'history-age',
    env: 'HERALD_HISTORY_AGE',
    kind: 'duration',
    default: '1h',
    help: 'how long a message stays replayable',
  },
  /** Directory of static pages served at `/`; unset serves the bundled demo page. */
  webRoot: {
    meta: 'dir',
    flag: 'web-root',
    env: 'HERALD_WEB_ROOT',
    kind: 'optional',
    default: '',
    help: 'directory of your own pages served at / (default: the bundled demo page)',
  },
  /** HS256 secret for tokens; unset when empty. */
  jwtSecret: {
    meta: 'secret',
    flag: 'jwt-secret',
    env: 'HERALD_JWT_SECRET',
    kind: 'optional',
    default: '',
    help: 'HS256 secret of subscriber and publisher tokens (at least 32 characters)',
  },
  /** Path to a PEM public key (RSA → RS256, EC P-256 → ES256). */
  jwtPublicKey: {
    meta: 'path',
    flag: 'jwt-public-key',
    env: 'HERALD_JWT_PUBLIC_KEY',
    kind: 'optional',
    default: '',
    help: 'path to a PEM public key of tokens: RSA (RS256) or EC P-256 (ES256)',
  },
  /** JWKS endpoint (RS256/ES256 keys, selected by `kid`). */
  jwksUrl: {
    meta: 'url',
    flag: 'jwks-url',
    env: 'HERALD_JWKS_URL',
    kind: 'optional',
    default: '',
    help: 'JWKS endpoint of token keys (RS256/ES256), cached and refetched on an unknown kid',
  },
  /** Least time between two JWKS fetches; an unknown `kid` refetches at most this often. */
  jwksCooldownMs: {
    flag: 'jwks-cooldown',
    env: 'HERALD_JWKS_COOLDOWN',
    kind: 'duration',
    default: '30s',
    help: 'least time between two JWKS fetches (bounds refetches caused by unknown kids)',
  },
  /** Required `iss` of tokens, when set. */
  jwtIssuer: {
    meta: 'issuer',
    flag: 'jwt-issuer',
    env: 'HERALD_JWT_ISSUER',
    kind: 'optional',
    default: '',
    help: 'required iss claim of tokens (unchecked when unset)',
  },
  /** Required `aud` of tokens, when set. */
  jwtAudience: {
    meta: 'audience',
    flag: 'jwt-audience',
    env: 'HERALD_JWT_AUDIENCE',
    kind: 'optional',
    default: '',
    help: 'required aud claim of tokens (unchecked when unset)',
  },
  /** Clock difference tolerated on `exp` and `nbf`. */
  jwtClockSkewMs: {
    flag: 'jwt-clock-skew',
    env: 'HERALD_JWT_CLOCK_SKEW',
    kind: 'duration',
    default: '30s',
    help: 'clock difference tolerated on exp and nbf',
  },
  /** Static API key of publishers. */
  publishKey: {
    meta: 'key',
    flag: 'publish-key',
    env: 'HERALD_PUBLISH_KEY',
    kind: 'optional',
    default: '',
    help: 'static API key of publishers (Authorization: Bearer <key>)',
  },
  /** Static key of the admin API and dashboard; also accepted from publishers. */
  adminKey: {
    meta: 'key',
    flag: 'admin-key',
    env: 'HERALD_ADMIN_KEY',
    kind: 'optional',
    default: '',
    help: 'static key of the admin API and dashboard; also accepted from publishers',
  },
  /** Port of a separate, unauthenticated `/metrics` listener (for a private network); unset: none. */
  metricsPort: {
    meta: 'port',
    flag: 'metrics-port',
    env: 'HERALD_METRICS_PORT',
    kind: 'optional-port',
    default: '',
    help: 'also serve /metrics without credentials on this port (bind it to a private network)',
  },
  /** Longest a shutdown waits for in-flight publishes and connections to end before exiting anyway. */
  drainTimeoutMs: {
    flag: 'drain-timeout',
    env: 'HERALD_DRAIN_TIMEOUT',
    kind: 'duration',
    default: '10s',
    help: 'on SIGTERM, longest wait for in-flight publishes and connections before exiting',
  },
  /** Open streams on this node at most (0: no ceiling). */
  maxConnections: {
    flag: 'max-connections',
    env: 'HERALD_MAX_CONNECTIONS',
    kind: 'limit',
    default: '10000',
    help: 'open streams on this node at most; 503 beyond (0: no ceiling)',
  },
  /** Open streams from one client address at most (0: no limit). */
  maxConnectionsPerIp: {
    flag: 'max-connections-per-ip',
    env: 'HERALD_MAX_CONNECTIONS_PER_IP',
    kind: 'limit',
    default: '1000',
    help: 'open streams from one client address at most; 429 beyond (0: no limit)',
  },
  /** Open streams of one user at most (0: no limit). */
  maxConnectionsPerUser: {
    flag: 'max-connections-per-user',
    env: 'HERALD_MAX_CONNECTIONS_PER_USER',
    kind: 'limit',
    default: '10',
    help: 'open streams of one user at most; 429 beyond (0: no limit)',
  },
  /** Messages per second one publisher may sustain (0: no limit). */
  publishRate: {
    flag: 'publish-rate',
    env: 'HERALD_PUBLISH_RATE',
    kind: 'limit',
    default: '1000',
    help: 'messages per second one publisher may sustain; 429 beyond (0: no limit)',
  },
  /** Messages one publisher may send at once above the sustained rate. */
  publishBurst: {
    flag: 'publish-burst',
    env: 'HERALD_PUBLISH_BURST',
    kind: 'integer',
    default: '2000',
    help: 'messages one publisher may send at once above the sustained rate',
  },
  /** Origins allowed by CORS; empty: same origin only (every origin in development mode). */
  corsOrigins: {
    meta: 'origins',
    flag: 'cors-origin',
    env: 'HERALD_CORS_ORIGIN',
    kind: 'list',
    default: '',
    help: 'comma-separated origins allowed by CORS (none: same origin only; any in development mode)',
  },
  /** Proxies whose `X-Forwarded-For` is believed: `true`, a hop count, or addresses/CIDRs; unset: none. */
  trustProxy: {
    meta: 'proxies',
    flag: 'trust-proxy',
    env: 'HERALD_TRUST_PROXY',
    kind: 'proxies',
    default: '',
    help: 'proxies whose X-Forwarded-For names the client: true, a hop count, or addresses/CIDRs',
  },
  /** Largest request line plus headers (431 beyond). */
  maxHeaderBytes: {
    flag: 'max-header-size',
    env: 'HERALD_MAX_HEADER_SIZE',
    kind: 'bytes',
    default: '16KiB',
    help: 'largest request line plus headers; 431 beyond',
  },
  /** Longest request URL (414 beyond). */
  maxUrlLength: {
    flag: 'max-url-length',
    env: 'HERALD_MAX_URL_LENGTH',
    kind: 'bytes',
    default: '8KiB',
    help: 'longest request URL; 414 beyond',
  },
  /** Longest wait of a long-poll (`GET /poll`) with nothing to answer. */
  pollTimeoutMs: {
    flag: 'poll-timeout',
    env: 'HERALD_POLL_TIMEOUT',
    kind: 'duration',
    default: '25s',
    help: 'longest wait of a long-poll (GET /poll) with nothing new; under common proxy timeouts',
  },
  /**
   * How long a long-poll session outlives `pollTimeoutMs` after an answer with no next poll: the session
   * (one connection in presence and the limits) is dropped once `pollTimeoutMs + pollGraceMs` pass.
   */
  pollGraceMs: {
    flag: 'poll-grace',
    env: 'HERALD_POLL_GRACE',
    kind: 'duration',
    default: '5s',
    help: 'a long-poll session with no poll for --poll-timeout plus this long is closed (goes offline)',
  },
  /** Path to the PEM certificate (chain): with `tlsKey`, serve HTTPS with HTTP/2 and HTTP/1.1 (ALPN). */
  tlsCert: {
    meta: 'path',
    flag: 'tls-cert',
    env: 'HERALD_TLS_CERT',
    kind: 'optional',
    default: '',
    help: 'PEM certificate: with --tls-key, serve HTTPS with HTTP/2 and HTTP/1.1 on one port (ALPN)',
  },
  /** Path to the PEM private key of `tlsCert`. */
  tlsKey: {
    meta: 'path',
    flag: 'tls-key',
    env: 'HERALD_TLS_KEY',
    kind: 'optional',
    default: '',
    help: 'PEM private key of --tls-cert',
  },
  /** Longest `ttl` of `POST /messages`: how long a message may wait in a user's inbox. */
  inboxMaxTtlMs: {
    flag: 'inbox-max-ttl',
    env: 'HERALD_INBOX_MAX_TTL',
    kind: 'duration',
    default: '7d',
    help: "longest ttl a message may wait in a user's inbox until acknowledged; 400 beyond",
  },
  /** How long a user's presence change must last before its `online`/`offline` event. */
  presenceDebounceMs: {
    flag: 'presence-debounce',
    env: 'HERALD_PRESENCE_DEBOUNCE',
    kind: 'duration',
    default: '2s',
    help: 'delay before online/offline presence events: a page reload within it is no event',
  },
  /** Presence events kept so that `GET /presence/events` resumes from a Last-Event-ID. */
  presenceHistory: {
    flag: 'presence-history',
    env: 'HERALD_PRESENCE_HISTORY',
    kind: 'integer',
    default: '1000',
    help: 'presence events kept for a GET /presence/events reconnect to resume from',
  },
  /** URL told of every presence event (POST, HMAC-signed with `presenceWebhookSecret`); unset: none. */
  presenceWebhook: {
    meta: 'url',
    flag: 'presence-webhook',
    env: 'HERALD_PRESENCE_WEBHOOK',
    kind: 'optional',
    default: '',
    help: 'URL told of presence events by POST, signed (Herald-Signature), retried with backoff',
  },
  /** Secret of the webhook's HMAC-SHA256 signature; required with `presenceWebhook`. */
  presenceWebhookSecret: {
    meta: 'secret',
    flag: 'presence-webhook-secret',
    env: 'HERALD_PRESENCE_WEBHOOK_SECRET',
    kind: 'optional',
    default: '',
    help: 'HMAC-SHA256 key of the presence webhook signature (at least 32 characters)',
  },
  /** Serve cleartext HTTP/2 (h2c, prior knowledge) instead of HTTP/1.1, for a proxy that speaks it. */
  h2c: {
    flag: 'h2c',
    env: 'HERALD_H2C',
    kind: 'boolean',
    default: 'false',
    help: 'serve cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1, behind a proxy that speaks it',
  },
  /** Mercure publishers' key: an HS256 secret, or a PEM public key (inline or a path); serves the hub. */
  mercurePublisherJwtKey: {
    meta: 'key',
    flag: 'mercure-publisher-jwt-key',
    env: 'HERALD_MERCURE_PUBLISHER_JWT_KEY',
    kind: 'optional',
    default: '',
    help: "Mercure publishers' key (HS256 secret or PEM path); serves the Mercure hub at /.well-known/mercure",
  },
  /** Mercure subscribers' key; each of the two keys falls back to the other. */
  mercureSubscriberJwtKey: {
    meta: 'key',
    flag: 'mercure-subscriber-jwt-key',
    env: 'HERALD_MERCURE_SUBSCRIBER_JWT_KEY',
    kind: 'optional',
    default: '',
    help: "Mercure subscribers' key (HS256 secret or PEM path); either Mercure key falls back to the other",
  },
  /** JWKS endpoint of Mercure tokens (RS256, ES256, EdDSA keys by `kid`). */
  mercureJwksUrl: {
    meta: 'url',
    flag: 'mercure-jwks-url',
    env: 'HERALD_MERCURE_JWKS_URL',
    kind: 'optional',
    default: '',
    help: 'JWKS endpoint of Mercure tokens; also serves the Mercure hub',
  },
  /** Anonymous Mercure subscribers (no token) get public updates; otherwise they are refused (401). */
  mercureAnonymous: {
    flag: 'mercure-anonymous',
    env: 'HERALD_MERCURE_ANONYMOUS',
    kind: 'boolean',
    default: 'false',
    help: 'allow Mercure subscribers without a token (they receive public updates only)',
  },
  /** The hub's resource identifier: the required `aud` of RFC 9068 tokens, and the base of relative topics. */
  mercureAudience: {
    meta: 'url',
    flag: 'mercure-audience',
    env: 'HERALD_MERCURE_AUDIENCE',
    kind: 'optional',
    default: '',
    help: "the Mercure hub's resource identifier: required aud of at+jwt tokens (e.g. https://host/.well-known/mercure)",
  },
  /** The trusted issuer: the required `iss` of RFC 9068 tokens. */
  mercureIssuer: {
    meta: 'issuer',
    flag: 'mercure-issuer',
    env: 'HERALD_MERCURE_ISSUER',
    kind: 'optional',
    default: '',
    help: 'required iss of Mercure at+jwt tokens (unchecked when unset)',
  },
  /** Name of the cookie carrying a Mercure token; `mercureAuthorization` (older clients) is read too. */
  mercureCookieName: {
    flag: 'mercure-cookie-name',
    env: 'HERALD_MERCURE_COOKIE_NAME',
    kind: 'string',
    default: '__Secure-mercure_access_token',
    help: 'cookie carrying a Mercure token (mercureAuthorization, as older clients send, is read too)',
  },
  /** The older `?authorization=` token parameter; off by default, as the draft forbids tokens in URLs. */
  mercureQueryToken: {
    flag: 'mercure-query-token',
    env: 'HERALD_MERCURE_QUERY_TOKEN',
    kind: 'boolean',
    default: 'false',
    help: 'accept a Mercure token in the older ?authorization= query parameter (tokens end up in logs)',
  },
  /** Active subscriptions: subscription events and the subscriptions API. */
  mercureSubscriptions: {
    flag: 'mercure-subscriptions',
    env: 'HERALD_MERCURE_SUBSCRIPTIONS',
    kind: 'boolean',
    default: 'false',
    help: 'publish Mercure subscription events and serve the subscriptions API (cluster-wide)',
  },
} as const satisfies Record<string, OptionSpec>;

/** Herald's options, validated. Every one is a flag and a `HERALD_*` environment variable; flags win. */
export type Config = {
  readonly [K in keyof typeof OPTION_TABLE]: KindValues[(typeof OPTION_TABLE)[K]['kind']];
};

/** One option of the table with its `Config` key, in the table's order (the order of `--help`). */
export interface Option extends OptionSpec {
  readonly key: keyof Config;
}

export const OPTIONS: readonly Option[] = Object.entries(OPTION_TABLE).map(([key, spec]) => ({
  key: key as keyof Config,
  ...spec,
}));

/** Where development mode listens when neither `--host` nor `HERALD_HOST` is given: loopback only. */
export const DEV_HOST = '127.0.0.1';

/** A bad option value: the message is one line naming the option. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses flags (`argv` without node and script) and `HERALD_*` variables into a validated `Config`. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const parseOptions = Object.fromEntries(
    OPTIONS.map((o) => [o.flag, { type: o.kind === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: parseOptions,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ConfigError((error as Error).message.split('\n')[0]);
  }
  const parsed: [keyof Config, unknown][] = [];
  for (const option of OPTIONS) {
    const flagValue = values[option.flag];
    const fromFlag = flagValue !== undefined;
    const raw = fromFlag ? String(flagValue) : (env[option.env] ?? option.default);
    const source = !fromFlag && env[option.env] !== undefined ? option.env : `--${option.flag}`;
    parsed.push([option.key, parseValue(option, raw, source)]);
  }
  // Every key of the table is set above, each by the parser of its kind.
  let result = Object.fromEntries(parsed) as Config;
  // Development mode lets anyone subscribe as anyone: unless told where to listen, only this machine may.
  if (result.dev && values.host === undefined && env.HERALD_HOST === undefined)
    result = { ...result, host: DEV_HOST };
  const logProblem = logUrlProblem(result.log);
  if (logProblem !== undefined) throw new ConfigError(logProblem);
  checkTls(result);
  checkWebhook(result);
  return result;
}

type Parser<K extends Kind> = (raw: string, bad: (why: string) => never, option: OptionSpec) => KindValues[K];

/** One parser per kind; each refuses what its kind cannot be, naming the expected form. */
const PARSERS: { readonly [K in Kind]: Parser<K> } = {
  boolean(raw, bad) {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off|)$/i.test(raw)) return false;
    return bad('expected true or false');
  },
  port: parsePort,
  'optional-port': (raw, bad) => (raw === '' ? undefined : parsePort(raw, bad)),
  integer(raw, bad) {
    const n = Number(raw);
    return Number.isSafeInteger(n) && n >= 1 ? n : bad('expected a positive integer');
  },
  limit(raw, bad) {
    const n = Number(raw);
    return /^\d+$/.test(raw) && Number.isSafeInteger(n)
      ? n
      : bad('expected 0 (no limit) or a positive integer');
  },
  optional: (raw) => (raw === '' ? undefined : raw),
  list: (raw) =>
    raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  duration: (raw, bad) => parseDuration(raw) ?? bad('expected a duration such as 500ms, 15s, 5m or 1h'),
  bytes: (raw, bad) => parseBytes(raw) ?? bad('expected a size such as 65536, 64KiB or 1MiB'),
  choice: (raw, bad, option) =>
    option.choices?.includes(raw) ? raw : bad(`expected one of ${option.choices?.join(', ')}`),
  proxies: parseTrustProxy,
  string: (raw, bad) => (raw === '' ? bad('must not be empty') : raw),
};

function parsePort(raw: string, bad: (why: string) => never): number {
  const port = Number(raw);
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : bad('expected a port number 0-65535');
}

function parseValue(option: OptionSpec, raw: string, source: string): KindValues[Kind] {
  const bad = (why: string): never => {
    throw new ConfigError(`invalid ${source}=${JSON.stringify(raw)}: ${why}`);
  };
  return PARSERS[option.kind](raw, bad, option);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `15s`, `5m`, `1h`, `7d`; a bare number is seconds. Returns milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (match === null) return undefined;
  return Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? 's'] as number));
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  kb: 1000,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  gib: 1024 ** 3,
};

/** `65536`, `64KiB`, `1MiB`, `2MB`. Returns bytes. */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = BYTE_UNITS[(match?.[2] ?? '').toLowerCase()];
  if (match === null || unit === undefined) return undefined;
  const bytes = Number(match[1]) * unit;
  return bytes >= 1 ? bytes : undefined;
}

/** `true`/`false`, a hop count, or a comma-separated list of addresses and CIDRs (Fastify's `trustProxy`). */
function parseTrustProxy(raw: string): KindValues['proxies'] {
  if (/^\d+$/.test(raw)) return Number(raw) === 0 ? undefined : Number(raw);
  if (/^(true|yes|on)$/i.test(raw)) return true;
  if (/^(false|no|off)$/i.test(raw)) return undefined;
  return raw;
}

function checkTls(config: Config): void {
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined))
    throw new ConfigError('--tls-cert and --tls-key go together: give both or neither');
  if (config.h2c && config.tlsCert !== undefined)
    throw new ConfigError(
      '--h2c is cleartext HTTP/2; with --tls-cert/--tls-key HTTP/2 is already served over TLS',
    );
}

function checkWebhook(config: Config): void {
  const url = config.presenceWebhook;
  if (url === undefined) return;
  if (!/^https?:\/\//.test(url) || !URL.canParse(url))
    throw new ConfigError(
      `invalid --presence-webhook=${JSON.stringify(url)}: expected an http:// or https:// URL`,
    );
  const secret = config.presenceWebhookSecret;
  if (secret === undefined || secret.length < 32)
    throw new ConfigError(
      '--presence-webhook needs --presence-webhook-secret (HERALD_PRESENCE_WEBHOOK_SECRET) of at least 32 characters',
    );
}

/** The `--help` text, generated from the option table. */
export function helpText(): string {
  const lines = [
    'Usage: herald [options]',
    '       herald token --sub <user> [--groups a,b] [--ttl 1h] [--publish] [--admin]   (mints a development token)',
    '',
    'Real-time message push over Server-Sent Events.',
    '',
    'Options:',
  ];
  for (const option of OPTIONS) {
    const flag =
      option.kind === 'boolean' ? `--${option.flag}` : `--${option.flag} <${option.meta ?? option.kind}>`;
    lines.push(`  ${flag.padEnd(26)} ${option.help}`);
    lines.push(
      `  ${''.padEnd(26)} env ${option.env}, default ${option.default === '' ? '(none)' : option.default}`,
    );
  }
  lines.push(`  ${'--version'.padEnd(26)} print the version`);
  lines.push(`  ${'--help'.padEnd(26)} show this text`);
  return lines.join('\n');
}
