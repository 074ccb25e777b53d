import type { Clock } from '../../core/clock.js';
import type { MessageSeal } from './message-seal.js';

/** What every Redis adapter is opened with. */
export interface RedisAdapterOptions {
  /** TESSERA_REDIS_URL. */
  readonly url: string;
  /** Put before every key and channel name, so several deployments (or tests) share one Redis (default "tessera:"). */
  readonly prefix?: string;
  readonly clock: Clock;
  /** Seals what crosses Redis (see message-seal.ts); without it, messages go plain. */
  readonly seal?: MessageSeal;
  /** Errors no caller is waiting for: a lost connection, a message that failed its seal. */
  readonly onError?: (error: unknown) => void;
  /** How often to look for a flushed store besides after each reconnection, ms (default 5,000). */
  readonly lossCheckMs?: number;
  /** Longest a command may wait for Redis, ms (default 2,000). */
  readonly commandTimeoutMs?: number;
}

export const DEFAULT_PREFIX = 'tessera:';

export function reportError(options: RedisAdapterOptions): (error: unknown) => void {
  return options.onError ?? ((error) => process.emitWarning(`Redis adapter: ${error instanceof Error ? error.message : String(error)}`, 'TesseraRedisWarning'));
}
