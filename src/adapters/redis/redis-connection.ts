import { Redis } from 'ioredis';
import { parseRedisUrl } from './redis-url.js';

// Every Redis connection Tessera opens. ioredis reconnects by itself after the server
// restarts (retryStrategy below, forever, backing off to 2 s) and re-subscribes pub/sub
// channels; commands sent while it is down wait in its offline queue. `commandTimeout` bounds
// that wait, so a caller on a request path gets an error to turn into a 503 rather than a
// request that hangs for as long as Redis is down.

export interface RedisConnectionOptions {
  /** Longest a command may wait for its reply, ms (default 2,000). Not for blocking reads. */
  readonly commandTimeoutMs?: number;
  /** For CLIENT LIST: which role and part opened it. */
  readonly name?: string;
}

export interface BlockingConnectionOptions {
  readonly name?: string;
}

function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000);
}

/** A connection for ordinary commands and scripts. */
export function openRedis(url: string, options: RedisConnectionOptions = {}): Redis {
  parseRedisUrl(url);
  return new Redis(url, {
    commandTimeout: options.commandTimeoutMs ?? 2000,
    retryStrategy,
    maxRetriesPerRequest: 3,
    enableOfflineQueue: true,
    connectionName: options.name ?? 'tessera',
    lazyConnect: false,
  });
}

/**
 * A connection for blocking reads (XREADGROUP BLOCK) or pub/sub, which hold the connection
 * for longer than any command timeout.
 */
export function openBlockingRedis(url: string, options: BlockingConnectionOptions = {}): Redis {
  parseRedisUrl(url);
  return new Redis(url, {
    retryStrategy,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResubscribe: true,
    connectionName: options.name ?? 'tessera-blocking',
  });
}

/**
 * Resolves once `client` has finished connecting (its handshake and ready check are done);
 * rejects if it is closed first. A connection for pub/sub must wait for this before its first
 * SUBSCRIBE: ioredis 5.8.2 and later can send its handshake's CLIENT or INFO after a SUBSCRIBE
 * issued while connecting, and Redis then refuses them ("Connection in subscriber mode, only
 * subscriber commands may be used"), failing the subscribe (ioredis issue #2037, fixed in 6.0).
 * While Redis is down this waits, as a queued command would.
 */
export function whenReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      reject(new Error('the Redis connection was closed before it was ready'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/** Closes a connection, politely if it is up, at once if not. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Fall through: the connection went away while quitting.
    }
  }
  client.disconnect(false);
}
