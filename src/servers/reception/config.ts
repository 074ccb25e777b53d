import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseRedisUrl } from '../../adapters/redis/redis-url.js';
import { ConfigError, envEnum, envInt, envString } from '../../config/env.js';
import { loadRootSecret } from '../../config/secret.js';
import { RECEPTION_ID_PATTERN } from '../../core/control/messages.js';
import { parsePolicyName } from '../../core/selection/parse-policy-name.js';
import type { PolicyName } from '../../core/selection/policy-name.js';

export type AddressBinding = 'off' | 'exact' | 'prefix';

export interface ReceptionConfig {
  readonly dataDir: string;
  readonly databaseUrl: string;
  readonly rootSecret: Buffer;
  readonly publicHost: string;
  readonly publicPort: number;
  readonly controlHost: string;
  readonly controlPort: number;
  /** Seconds a ticket is valid for. Short by default (seed 001 ¶0042). */
  readonly ticketTtlS: number;
  /** Seconds a client has to start using a ticket before its slot is released. */
  readonly holdS: number;
  readonly clockToleranceS: number;
  readonly maxConnectionsPerTicket: number;
  readonly addressBinding: AddressBinding;
  readonly prefixBitsV4: number;
  readonly prefixBitsV6: number;
  /**
   * A content server is stale (no new tickets) after missing this many of the report intervals
   * it announces, but never sooner than minStaleMs nor later than staleAfterMs
   * (src/core/server-health.ts).
   */
  readonly missedReports: number;
  readonly minStaleMs: number;
  /** The longest silence any content server is allowed, whatever interval it announces. */
  readonly staleAfterMs: number;
  /**
   * A reception that has just started knows no content server until their first reports
   * arrive (they report to every reception each interval). For this long after start, an order
   * for an item no known server holds waits for those reports instead of being refused.
   */
  readonly warmupMs: number;
  /** How long a superseded ticket key is still accepted after a rotation. */
  readonly keyGraceS: number;
  readonly maxUploadBytes: number;
  readonly queueGraceS: number;
  readonly queueMax: number;
  readonly orderRatePerS: number;
  readonly orderBurst: number;
  /** Take the client address from X-Forwarded-For (behind a load balancer such as the nginx entry). */
  readonly trustProxy: boolean;
  /** How this reception picks the content server for an order (docs/selection.md). */
  readonly selectionPolicy: PolicyName;
  /** Loads (shares of capacity) within this of each other count as equal; the nearer server then wins. */
  readonly equalLoadBand: number;
  /**
   * TESSERA_REDIS_URL: shared state (load reports, waiting line, consumed tickets) and the
   * control channel on Redis (docs/scale-out.md); undefined for the embedded defaults.
   */
  readonly redisUrl: string | undefined;
  /** TESSERA_REDIS_PREFIX: key and channel prefix on Redis (default "tessera:"). */
  readonly redisPrefix: string | undefined;
  /**
   * TESSERA_RECEPTION_ID: this reception's stable name on Redis (its completion consumer and its
   * admission turn); default `<host name>-<control port>`, stable across restarts.
   */
  readonly receptionId: string | undefined;
}

export function loadReceptionConfig(env: NodeJS.ProcessEnv): Readonly<ReceptionConfig> {
  const dataDir = resolve(envString(env, 'TESSERA_DATA_DIR', './data'));
  const ticketTtlS = envInt(env, 'TESSERA_TICKET_TTL_S', 300, 10, 86_400);
  const holdS = envInt(env, 'TESSERA_HOLD_S', 30, 1, 3600);
  if (holdS > ticketTtlS) throw new ConfigError('TESSERA_HOLD_S', `must not exceed TESSERA_TICKET_TTL_S (${ticketTtlS})`);
  const clockToleranceS = envInt(env, 'TESSERA_CLOCK_TOLERANCE_S', 5, 0, 60);
  const keyGraceS = envInt(env, 'TESSERA_KEY_GRACE_S', ticketTtlS + clockToleranceS + 60, 0, 30 * 86_400);
  const minStaleMs = envInt(env, 'TESSERA_STALE_MIN_MS', 1000, 50, 600_000);
  const staleAfterMs = envInt(env, 'TESSERA_STALE_AFTER_MS', 30_000, 100, 600_000);
  if (minStaleMs > staleAfterMs) throw new ConfigError('TESSERA_STALE_MIN_MS', `must not exceed TESSERA_STALE_AFTER_MS (${staleAfterMs})`);
  if (keyGraceS < ticketTtlS + clockToleranceS) {
    throw new ConfigError('TESSERA_KEY_GRACE_S', 'must cover the longest ticket lifetime plus the clock tolerance');
  }
  return Object.freeze({
    dataDir,
    databaseUrl: envString(env, 'TESSERA_DATABASE_URL', `sqlite:${dataDir}/tessera.db`),
    rootSecret: loadRootSecret(env, `${dataDir}/secret.key`),
    publicHost: envString(env, 'TESSERA_PUBLIC_HOST', '127.0.0.1'),
    publicPort: envInt(env, 'TESSERA_PUBLIC_PORT', 8080, 0, 65_535),
    controlHost: envString(env, 'TESSERA_CONTROL_HOST', '127.0.0.1'),
    controlPort: envInt(env, 'TESSERA_CONTROL_PORT', 9100, 0, 65_535),
    ticketTtlS,
    holdS,
    clockToleranceS,
    maxConnectionsPerTicket: envInt(env, 'TESSERA_TICKET_MAX_CONNECTIONS', 4, 1, 255),
    addressBinding: envEnum(env, 'TESSERA_ADDRESS_BINDING', ['off', 'exact', 'prefix'] as const, 'off'),
    prefixBitsV4: envInt(env, 'TESSERA_PREFIX_BITS_V4', 24, 0, 32),
    prefixBitsV6: envInt(env, 'TESSERA_PREFIX_BITS_V6', 56, 0, 128),
    missedReports: envInt(env, 'TESSERA_MISSED_REPORTS', 3, 1, 100),
    minStaleMs,
    staleAfterMs,
    warmupMs: envInt(env, 'TESSERA_WARMUP_MS', 3000, 0, 600_000),
    keyGraceS,
    maxUploadBytes: envInt(env, 'TESSERA_MAX_UPLOAD_BYTES', 8 * 1024 ** 3, 1, Number.MAX_SAFE_INTEGER),
    queueGraceS: envInt(env, 'TESSERA_QUEUE_GRACE_S', 30, 1, 3600),
    // 0: no line at all, every busy answer is a plain 503 (for comparison benchmarks).
    queueMax: envInt(env, 'TESSERA_QUEUE_MAX', 10_000, 0, 1_000_000),
    orderRatePerS: envInt(env, 'TESSERA_ORDER_RATE_PER_S', 5, 1, 1_000_000),
    orderBurst: envInt(env, 'TESSERA_ORDER_BURST', 20, 1, 1_000_000),
    // The same spellings the content server accepts; anything else is refused at start.
    trustProxy: ['true', '1'].includes(envEnum(env, 'TESSERA_TRUST_PROXY', ['true', 'false', '1', '0'] as const, 'false')),
    selectionPolicy: selectionPolicyOf(env),
    equalLoadBand: equalLoadBandOf(env),
    redisUrl: redisUrlOf(env),
    redisPrefix: optionalMatching(env, 'TESSERA_REDIS_PREFIX', /^[\x21-\x7e]{1,64}$/, '1..64 printable characters without spaces'),
    receptionId: optionalMatching(env, 'TESSERA_RECEPTION_ID', /^[A-Za-z0-9._:-]{1,64}$/, '1..64 of [A-Za-z0-9._:-]'),
  });
}

function redisUrlOf(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env['TESSERA_REDIS_URL'];
  if (raw === undefined || raw === '') return undefined;
  try {
    parseRedisUrl(raw);
  } catch (error) {
    // The message never repeats the URL: it may hold a password.
    throw new ConfigError('TESSERA_REDIS_URL', (error as Error).message);
  }
  return raw;
}

function optionalMatching(env: NodeJS.ProcessEnv, name: string, pattern: RegExp, what: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!pattern.test(raw)) throw new ConfigError(name, `must be ${what}`);
  return raw;
}

function selectionPolicyOf(env: NodeJS.ProcessEnv): PolicyName {
  const raw = env['TESSERA_SELECTION_POLICY'];
  if (raw === undefined || raw.trim() === '') return 'default';
  try {
    return parsePolicyName(raw);
  } catch (error) {
    throw new ConfigError('TESSERA_SELECTION_POLICY', (error as Error).message);
  }
}

/** A share of capacity, so a decimal (envInt reads integers only). */
function equalLoadBandOf(env: NodeJS.ProcessEnv): number {
  const raw = env['TESSERA_EQUAL_LOAD_BAND'];
  if (raw === undefined || raw === '') return 0.1;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new ConfigError('TESSERA_EQUAL_LOAD_BAND', `"${raw}" is not a decimal number`);
  const value = Number(raw);
  if (value > 1) throw new ConfigError('TESSERA_EQUAL_LOAD_BAND', `${value} is outside 0..1 (a share of capacity)`);
  return value;
}

/**
 * This reception's name: TESSERA_RECEPTION_ID, or `<host>-<control port>`. Its consumer name on
 * Redis, and what its notices carry as `issuedBy` so that content servers send the tickets'
 * completions back to it.
 */
export function receptionIdOf(config: ReceptionConfig): string {
  return config.receptionId ?? `${hostname()}-${config.controlPort === 0 ? process.pid : config.controlPort}`;
}

/** receptionIdOf, when it is a name notices and replies can carry (RECEPTION_ID_PATTERN); else undefined. */
export function issuerNameOf(config: ReceptionConfig): string | undefined {
  const id = receptionIdOf(config);
  return RECEPTION_ID_PATTERN.test(id) ? id : undefined;
}
