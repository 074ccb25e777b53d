import type { Redis } from 'ioredis';
import type { LostListener } from '../../ports/shared-state-capabilities.js';

// Notices that Redis lost what it held (it restarted without persistence, or someone flushed
// it) and tells the listeners once per loss. It looks after every reconnection, which is what
// a restart looks like from here, and every `intervalMs` besides, for a flush that drops no
// connection. `isLost` is the adapter's own test: a marker key of this process that is gone,
// or a marker of a whole structure that nobody has rebuilt yet.

export interface StoreLossWatchOptions {
  readonly client: Redis;
  readonly isLost: () => Promise<boolean>;
  readonly intervalMs?: number;
  readonly onError?: (error: unknown) => void;
}

export class StoreLossWatch {
  readonly #o: StoreLossWatchOptions;
  readonly #listeners = new Set<LostListener>();
  readonly #onReady = (): void => void this.check();
  #timer: NodeJS.Timeout | undefined;
  #reported = false;
  #checking: Promise<void> | undefined;

  constructor(options: StoreLossWatchOptions) {
    this.#o = options;
  }

  start(): void {
    this.#o.client.on('ready', this.#onReady);
    this.#timer = setInterval(() => void this.check(), this.#o.intervalMs ?? 5000);
    this.#timer.unref();
  }

  stop(): void {
    this.#o.client.off('ready', this.#onReady);
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  add(listener: LostListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Looks now; resolves once listeners of a loss found have been called. */
  check(): Promise<void> {
    this.#checking ??= (async () => {
      try {
        const lost = await this.#o.isLost();
        if (!lost) {
          this.#reported = false;
          return;
        }
        if (this.#reported) return;
        this.#reported = true;
        for (const listener of [...this.#listeners]) {
          try {
            listener();
          } catch (error) {
            this.#o.onError?.(error);
          }
        }
      } catch (error) {
        // Redis is unreachable: the next reconnection looks again.
        this.#o.onError?.(error);
      } finally {
        this.#checking = undefined;
      }
    })();
    return this.#checking;
  }
}

/**
 * A marker key for one process: set when the process first connects; gone later means the
 * store lost everything since. It expires after a week unrefreshed, which only causes a
 * harmless extra refill.
 */
export function processMarker(client: Redis, key: string): () => Promise<boolean> {
  const WEEK_MS = 7 * 24 * 3600 * 1000;
  let established = false;
  return async () => {
    const created = await client.set(key, '1', 'PX', WEEK_MS, 'NX');
    if (created === null) {
      await client.pexpire(key, WEEK_MS);
      established = true;
      return false;
    }
    const lost = established;
    established = true;
    return lost;
  };
}
