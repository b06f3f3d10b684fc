import { parseArgs } from 'node:util';

/** Herald's options, validated. Every one is a flag and a `HERALD_*` environment variable; flags win. */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dev: boolean;
  /** `memory`, `sqlite:<path>` or `redis://…`. */
  readonly log: string;
  /** Prefix of every Redis key and channel Herald uses, so several clusters can share one Redis. */
  readonly redisPrefix: string;
  /** Clustered presence: a node that stops heartbeating drops out of the counts after this long. */
  readonly presenceTtlMs: number;
  readonly logLevel: string;
  readonly heartbeatMs: number;
  readonly retryMs: number;
  readonly maxBufferedBytes: number;
  readonly bodyLimitBytes: number;
  readonly historySize: number;
  readonly historyAgeMs: number;
}

type Kind = 'integer' | 'string' | 'boolean' | 'duration' | 'bytes' | 'port' | 'choice';

interface OptionSpec {
  readonly key: keyof Config;
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly default: string;
  readonly help: string;
  readonly choices?: readonly string[];
}

/** The option table: parsing, validation and `--help` all read it, so they cannot disagree. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'port', flag: 'port', env: 'HERALD_PORT', kind: 'port', default: '8080', help: 'listen port' },
  {
    key: 'host',
    flag: 'host',
    env: 'HERALD_HOST',
    kind: 'string',
    default: '0.0.0.0',
    help: 'listen address',
  },
  {
    key: 'dev',
    flag: 'dev',
    env: 'HERALD_DEV',
    kind: 'boolean',
    default: 'false',
    help: 'development mode: ?user= and ?group= identities, open CORS (never in production)',
  },
  {
    key: 'log',
    flag: 'log',
    env: 'HERALD_LOG',
    kind: 'string',
    default: 'memory',
    help: 'message log: memory | sqlite:<path> | redis://host:port/db',
  },
  {
    key: 'redisPrefix',
    flag: 'redis-prefix',
    env: 'HERALD_REDIS_PREFIX',
    kind: 'string',
    default: 'herald:',
    help: 'prefix of the Redis keys of this cluster (with --log redis://)',
  },
  {
    key: 'presenceTtlMs',
    flag: 'presence-ttl',
    env: 'HERALD_PRESENCE_TTL',
    kind: 'duration',
    default: '15s',
    help: 'with Redis: a node that stops heartbeating leaves the presence counts after this long',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'HERALD_LOG_LEVEL',
    kind: 'choice',
    default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    help: 'level of the JSON logs on stdout',
  },
  {
    key: 'heartbeatMs',
    flag: 'heartbeat',
    env: 'HERALD_HEARTBEAT',
    kind: 'duration',
    default: '15s',
    help: 'interval of the keep-alive comment on idle streams (0 disables)',
  },
  {
    key: 'retryMs',
    flag: 'retry',
    env: 'HERALD_RETRY',
    kind: 'duration',
    default: '3s',
    help: 'reconnect delay hinted to clients (SSE retry:)',
  },
  {
    key: 'maxBufferedBytes',
    flag: 'max-buffered',
    env: 'HERALD_MAX_BUFFERED',
    kind: 'bytes',
    default: '1MiB',
    help: 'unsent output after which a slow connection is closed (its client resumes losslessly)',
  },
  {
    key: 'bodyLimitBytes',
    flag: 'body-limit',
    env: 'HERALD_BODY_LIMIT',
    kind: 'bytes',
    default: '64KiB',
    help: 'largest accepted request body (413 beyond)',
  },
  {
    key: 'historySize',
    flag: 'history-size',
    env: 'HERALD_HISTORY_SIZE',
    kind: 'integer',
    default: '10000',
    help: 'messages kept for replay after a reconnect',
  },
  {
    key: 'historyAgeMs',
    flag: 'history-age',
    env: 'HERALD_HISTORY_AGE',
    kind: 'duration',
    default: '1h',
    help: 'how long a message stays replayable',
  },
];

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
  const config: Record<string, unknown> = {};
  for (const option of OPTIONS) {
    const flagValue = values[option.flag];
    const raw = flagValue !== undefined ? String(flagValue) : (env[option.env] ?? option.default);
    const source =
      flagValue !== undefined
        ? `--${option.flag}`
        : env[option.env] !== undefined
          ? option.env
          : `--${option.flag}`;
    config[option.key] = parseValue(option, raw, source);
  }
  const result = config as unknown as Config;
  checkLogUrl(result.log);
  return result;
}

function parseValue(option: OptionSpec, raw: string, source: string): unknown {
  const bad = (why: string): never => {
    throw new ConfigError(`invalid ${source}=${JSON.stringify(raw)}: ${why}`);
  };
  switch (option.kind) {
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off|)$/i.test(raw)) return false;
      return bad('expected true or false');
    case 'port': {
      const port = Number(raw);
      return Number.isInteger(port) && port >= 0 && port <= 65535
        ? port
        : bad('expected a port number 0-65535');
    }
    case 'integer': {
      const n = Number(raw);
      return Number.isSafeInteger(n) && n >= 1 ? n : bad('expected a positive integer');
    }
    case 'duration':
      return parseDuration(raw) ?? bad('expected a duration such as 500ms, 15s, 5m or 1h');
    case 'bytes':
      return parseBytes(raw) ?? bad('expected a size such as 65536, 64KiB or 1MiB');
    case 'choice':
      return option.choices?.includes(raw) ? raw : bad(`expected one of ${option.choices?.join(', ')}`);
    default:
      return raw === '' ? bad('must not be empty') : raw;
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `15s`, `5m`, `1h`; a bare number is seconds. Returns milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
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

function checkLogUrl(log: string): void {
  if (log === 'memory') return;
  if (log.startsWith('sqlite:') && log.length > 'sqlite:'.length) return;
  if (/^rediss?:\/\/./.test(log)) {
    try {
      new URL(log);
      return;
    } catch {}
  }
  throw new ConfigError(
    `invalid --log=${JSON.stringify(redact(log))}: expected memory, sqlite:<path> or redis://host:port/db`,
  );
}

/** Hides the password of a URL before it is shown in an error or a log line. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
}

/** The `--help` text, generated from the option table. */
export function helpText(): string {
  const lines = [
    'Usage: herald [options]',
    '',
    'Real-time message push over Server-Sent Events.',
    '',
    'Options:',
  ];
  for (const option of OPTIONS) {
    const flag = option.kind === 'boolean' ? `--${option.flag}` : `--${option.flag} <${option.kind}>`;
    lines.push(`  ${flag.padEnd(26)} ${option.help}`);
    lines.push(`  ${''.padEnd(26)} env ${option.env}, default ${option.default}`);
  }
  lines.push(`  ${'--help'.padEnd(26)} show this text`);
  return lines.join('\n');
}
