import { isServerId, SERVER_ID_PATTERN } from '../../core/ids.js';
import { MAX_CLOCK_TOLERANCE_S } from '../../core/ticket/ticket.js';
import { parseRedisUrl } from '../../adapters/redis/redis-url.js';

// The content server's configuration, read once from the environment, validated and frozen.
// A bad or missing setting fails the start with a message naming the variable.

export type NoticeMode = 'required' | 'optional';
export type DeliveryMode = 'node' | 'accel';

export interface ContentServerConfig {
  readonly serverId: string;
  readonly publicHost: string;
  readonly publicPort: number;
  /** Base URL clients reach this server at; undefined means http://<host>:<bound port>. */
  readonly publicUrl: string | undefined;
  readonly controlHost: string;
  readonly controlPort: number;
  /** Every reception this server reports to (TESSERA_RECEPTION_CONTROL_URL, comma-separated). */
  readonly receptionControlUrls: readonly string[];
  readonly controlToken: string;
  readonly storeDir: string;
  readonly capacity: number;
  readonly reportIntervalMs: number;
  /**
   * TESSERA_REPORT_ON_CHANGE: also report soon after a slot is taken or freed (at most one extra
   * report per 50 ms), so the receptions' view is fresh whatever the interval. false: report on
   * the interval only, a fixed number of reports per interval however busy the server is.
   */
  readonly reportOnChange: boolean;
  readonly area: string;
  readonly cost: number;
  readonly noticeMode: NoticeMode;
  readonly clockToleranceS: number;
  readonly idleReleaseMs: number;
  /** How long after a response was complete its bytes count without other evidence. */
  readonly deliveryConfirmMs: number;
  readonly deliveryMode: DeliveryMode;
  readonly accelPrefix: string;
  /** UDP port (on the control host) where nginx's delivery log arrives; undefined: no log. */
  readonly accelLogPort: number | undefined;
  /** Take the client address from X-Real-IP (set by the proxy in front) instead of the socket. */
  readonly trustProxy: boolean;
  /** Chunk size for reading files; measured in docs/content-server.md. */
  readonly readChunkBytes: number;
  /**
   * Most bytes per second one ticket's transfer may take, all its parallel connections
   * together; 0: no limit.
   */
  readonly transferRateBps: number;
  /**
   * TESSERA_REDIS_URL: shared state and the control channel on Redis (docs/scale-out.md);
   * undefined for the embedded HTTP control channel.
   */
  readonly redisUrl: string | undefined;
  /** TESSERA_REDIS_PREFIX: key and channel prefix on Redis (default "tessera:"). */
  readonly redisPrefix: string | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadContentServerConfig(env: NodeJS.ProcessEnv | Env): ContentServerConfig {
  const read = new EnvReader(env);
  const serverId = read.required('TESSERA_SERVER_ID', (v) =>
    isServerId(v) ? v : fail(`must match ${SERVER_ID_PATTERN.source}`),
  );
  const publicHost = read.optional('TESSERA_PUBLIC_HOST', '127.0.0.1', host);
  const publicPort = read.required('TESSERA_PUBLIC_PORT', port);
  const publicUrl = read.optional<string | undefined>('TESSERA_PUBLIC_URL', undefined, httpUrl);
  const controlHost = read.optional('TESSERA_CONTROL_HOST', '127.0.0.1', host);
  const controlPort = read.required('TESSERA_CONTROL_PORT', port);
  const redisUrl = read.optional<string | undefined>('TESSERA_REDIS_URL', undefined, redisUrlOf, { secret: true });
  const redisPrefix = read.optional<string | undefined>('TESSERA_REDIS_PREFIX', undefined, (v) =>
    /^[\x21-\x7e]{1,64}$/.test(v) ? v : fail('must be 1..64 printable characters without spaces'),
  );
  const parseReceptionUrls = (v: string): string[] => {
    const urls = v.split(',').map((u) => httpUrl(u.trim()).replace(/\/+$/, ''));
    if (new Set(urls).size !== urls.length) fail('lists a reception twice');
    return urls;
  };
  // With Redis, reports and completions travel there: the receptions' HTTP URLs are not needed.
  const receptionControlUrls =
    redisUrl === undefined
      ? read.required('TESSERA_RECEPTION_CONTROL_URL', parseReceptionUrls)
      : read.optional<string[]>('TESSERA_RECEPTION_CONTROL_URL', [], parseReceptionUrls);
  const controlToken = read.required('TESSERA_CONTROL_TOKEN', (v) => {
    // controlToken(root, serverId) is "<serverId>.<mac>": a token for another server is a
    // deployment mistake worth catching before the reception refuses every report.
    if (!/^[\x21-\x7e]{16,512}$/.test(v)) fail('must be 16..512 printable characters');
    if (!v.startsWith(`${serverId}.`)) fail('was issued for another server ID than TESSERA_SERVER_ID');
    return v;
  }, { secret: true });
  const storeDir = read.required('TESSERA_STORE_DIR', (v) => v);
  const capacity = read.optional('TESSERA_CAPACITY', 8, integer(1, 100_000));
  const reportIntervalMs = read.optional('TESSERA_REPORT_INTERVAL_MS', 1000, integer(50, 3_600_000));
  const reportOnChange = read.optional('TESSERA_REPORT_ON_CHANGE', true, boolean);
  const area = read.optional('TESSERA_AREA', 'local', (v) => (/^[A-Za-z0-9._-]{1,64}$/.test(v) ? v : fail('must be 1..64 of [A-Za-z0-9._-]')));
  const cost = read.optional('TESSERA_COST', 0, number(0, 1e9));
  const noticeMode = read.optional<NoticeMode>('TESSERA_NOTICE_MODE', 'required', oneOf(['required', 'optional'] as const));
  const clockToleranceS = read.optional('TESSERA_CLOCK_TOLERANCE_S', 5, integer(0, MAX_CLOCK_TOLERANCE_S));
  const idleReleaseMs = read.optional('TESSERA_IDLE_RELEASE_MS', 15_000, integer(0, 3_600_000));
  const deliveryConfirmMs = read.optional('TESSERA_DELIVERY_CONFIRM_MS', 5000, integer(0, 600_000));
  const deliveryMode = read.optional<DeliveryMode>('TESSERA_DELIVERY_MODE', 'node', oneOf(['node', 'accel'] as const));
  const accelPrefix = read.optional('TESSERA_ACCEL_PREFIX', '/_tessera_accel', (v) =>
    /^\/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/.test(v) && !v.includes('//') && !/(^|\/)\.\.?(\/|$)/.test(v)
      ? v
      : fail('must be an absolute path like /_tessera_accel (no trailing slash, no dot segments)'),
  );
  const accelLogPort = read.optional<number | undefined>('TESSERA_ACCEL_LOG_PORT', undefined, port);
  const trustProxy = read.optional('TESSERA_TRUST_PROXY', deliveryMode === 'accel', boolean);
  const readChunkBytes = read.optional('TESSERA_READ_CHUNK_BYTES', 1024 * 1024, integer(4096, 16 * 1024 * 1024));
  const transferRateBps = read.optional('TESSERA_TRANSFER_RATE_BPS', 0, (v) => {
    const n = integer(0, 1e12)(v);
    // Below 1 KiB/s a transfer would be a trickle of tiny writes: surely a unit mistake.
    if (n > 0 && n < 1024) fail('must be 0 (no limit) or at least 1024 bytes/s');
    return n;
  });
  read.finish();
  return Object.freeze({
    serverId,
    publicHost,
    publicPort,
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    controlHost,
    controlPort,
    receptionControlUrls,
    controlToken,
    storeDir,
    capacity,
    reportIntervalMs,
    reportOnChange,
    area,
    cost,
    noticeMode,
    clockToleranceS,
    idleReleaseMs,
    deliveryConfirmMs,
    deliveryMode,
    accelPrefix,
    accelLogPort,
    trustProxy,
    readChunkBytes,
    transferRateBps,
    redisUrl,
    redisPrefix,
  });
}

class Invalid extends Error {}

function fail(reason: string): never {
  throw new Invalid(reason);
}

class EnvReader {
  readonly #env: Env;
  readonly #problems: string[] = [];

  constructor(env: Env) {
    this.#env = env;
  }

  required<T>(name: string, parse: (value: string) => T, options: { secret?: boolean } = {}): T {
    const value = this.#env[name];
    if (value === undefined || value === '') {
      this.#problems.push(`${name} is required`);
      return undefined as T;
    }
    return this.#parse(name, value, parse, options.secret === true);
  }

  optional<T>(name: string, fallback: T, parse: (value: string) => T, options: { secret?: boolean } = {}): T {
    const value = this.#env[name];
    if (value === undefined || value === '') return fallback;
    return this.#parse(name, value, parse, options.secret === true);
  }

  #parse<T>(name: string, value: string, parse: (value: string) => T, secret: boolean): T {
    try {
      return parse(value);
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      const shown = secret ? '' : ` (got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)})`;
      this.#problems.push(`${name} ${error.message}${shown}`);
      return undefined as T;
    }
  }

  finish(): void {
    if (this.#problems.length > 0) {
      throw new ConfigError(`invalid content server configuration: ${this.#problems.join('; ')}`);
    }
  }
}

function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value)) fail(`must be an integer ${min}..${max}`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) fail(`must be an integer ${min}..${max}`);
    return n;
  };
}

function number(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) fail(`must be a number ${min}..${max}`);
    return n;
  };
}

function port(value: string): number {
  return integer(0, 65535)(value);
}

function boolean(value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  fail('must be true or false');
}

function host(value: string): string {
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(value)) fail('must be a host name or IP address');
  return value;
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail('must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('must be an http(s) URL');
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') fail('must not carry a query, fragment or credentials');
  return value;
}

function redisUrlOf(value: string): string {
  try {
    parseRedisUrl(value);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  return value;
}

function oneOf<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => ((values as readonly string[]).includes(value) ? (value as T) : fail(`must be one of ${values.join(' | ')}`));
}
