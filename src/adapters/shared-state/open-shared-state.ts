import type { Clock } from '../../core/clock.js';
import type { ConsumedTicketLedger } from '../../ports/consumed-ticket-ledger.js';
import type { ControlChannel } from '../../ports/control-channel.js';
import type { LoadReportBoard } from '../../ports/load-report-board.js';
import type { WaitingLine } from '../../ports/waiting-line.js';
import { MemoryConsumedTicketLedger } from '../memory/memory-consumed-ticket-ledger.js';
import { MemoryControlChannel } from '../memory/memory-control-channel.js';
import { MemoryLoadReportBoard } from '../memory/memory-load-report-board.js';
import { MemoryWaitingLine } from '../memory/memory-waiting-line.js';
import type { MessageSeal } from '../redis/message-seal.js';
import { parseRedisUrl } from '../redis/redis-url.js';

// Picks the adapters of shared ephemeral state and the control channel from configuration:
// in-process when no Redis URL is set (the embedded default), Redis when TESSERA_REDIS_URL is.
// Each port is opened when first asked for, so a content server opens no waiting line and a
// reception no ledger connection it does not use. The Redis adapters are imported on demand,
// so the embedded default never loads the Redis client.

export interface SharedStateConfig {
  /** TESSERA_REDIS_URL; undefined for the in-process adapters. */
  readonly redisUrl?: string;
  /** Key and channel prefix on Redis (default "tessera:"). */
  readonly prefix?: string;
  readonly clock: Clock;
  /** Required with Redis: a reception's or a content server's seal (seal-from-control-token.ts). */
  readonly seal?: MessageSeal;
  readonly onError?: (error: unknown) => void;
}

export interface SharedState {
  board(): Promise<LoadReportBoard>;
  ledger(): Promise<ConsumedTicketLedger>;
  line(): Promise<WaitingLine>;
  channel(): Promise<ControlChannel>;
  close(): Promise<void>;
}

/** Throws TypeError at once for a bad Redis URL or a missing seal, so a server fails at start. */
export function openSharedState(config: SharedStateConfig): SharedState {
  if (config.redisUrl !== undefined) parseRedisUrl(config.redisUrl);
  if (config.redisUrl !== undefined && config.seal === undefined) {
    throw new TypeError('a Redis control channel needs a seal: messages on Redis must be authenticated');
  }
  const opened: { close(): Promise<void> }[] = [];
  const memo = <T extends { close(): Promise<void> }>(open: () => Promise<T>): (() => Promise<T>) => {
    let value: Promise<T> | undefined;
    return () => {
      value ??= open().then((v) => {
        opened.push(v);
        return v;
      });
      return value;
    };
  };
  const url = config.redisUrl;
  const redis = url === undefined ? undefined : { url, clock: config.clock, ...(config.prefix ? { prefix: config.prefix } : {}), ...(config.seal ? { seal: config.seal } : {}), ...(config.onError ? { onError: config.onError } : {}) };
  return {
    board: memo(async () =>
      redis ? new (await import('../redis/redis-load-report-board.js')).RedisLoadReportBoard(redis) : new MemoryLoadReportBoard(config.clock, config.onError ? { onError: config.onError } : {}),
    ),
    ledger: memo(async () =>
      redis ? new (await import('../redis/redis-consumed-ticket-ledger.js')).RedisConsumedTicketLedger(redis) : new MemoryConsumedTicketLedger(config.clock),
    ),
    line: memo(async () => (redis ? new (await import('../redis/redis-waiting-line.js')).RedisWaitingLine(redis) : new MemoryWaitingLine(config.clock))),
    channel: memo(async () =>
      redis ? new (await import('../redis/redis-control-channel.js')).RedisControlChannel(redis) : new MemoryControlChannel(config.clock),
    ),
    async close() {
      for (const part of opened.splice(0)) await part.close();
    },
  };
}
