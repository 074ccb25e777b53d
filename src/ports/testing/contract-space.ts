import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REDIS_URL, requireRedis } from '../../../test/support/services.js';
import { systemClock, ManualClock, type Clock } from '../../core/clock.js';
import { dropRedisSpace, freshRedisPrefix } from '../../adapters/redis/testing/redis-test-space.js';

// What a contract suite needs from each backend, hono-style: a fresh, empty space per case,
// further handles on the same space (another process of the same deployment), a clock the case
// can move, and, where the store can lose its contents, a way to make it do so.

export interface ContractSpace<P> {
  /** A handle on the case's space; every call gives another one (another process). All are closed after the case. */
  open(): P;
  readonly clock: Clock;
  /** Moves time on by `ms`: the manual clock of an in-process space, real time for Redis. */
  advance(ms: number): Promise<void>;
  /** Makes the store lose everything it holds (a restart without persistence); absent where that cannot happen. */
  readonly lose?: () => Promise<void>;
}

export interface ContractBackend<P> {
  readonly name: string;
  /** False when the server is absent outside CI (the test is then skipped, loudly). */
  available(t: TestContext): Promise<boolean>;
  space(): { readonly space: ContractSpace<P>; readonly cleanup: () => Promise<void> };
}

interface Closable {
  close(): Promise<void>;
}

export function memoryBackend<P extends Closable>(make: (clock: ManualClock) => { first: P; share: (first: P) => P }): ContractBackend<P> {
  return {
    name: 'memory',
    available: () => Promise.resolve(true),
    space() {
      const clock = new ManualClock();
      const opened: P[] = [];
      let root: { first: P; share: (first: P) => P } | undefined;
      const space: ContractSpace<P> = {
        clock,
        open() {
          let handle: P;
          if (root === undefined) {
            root = make(clock);
            handle = root.first;
          } else {
            handle = root.share(root.first);
          }
          opened.push(handle);
          return handle;
        },
        async advance(ms) {
          clock.advance(ms);
          await sleep(0);
        },
      };
      return { space, cleanup: async () => { for (const h of opened) await h.close(); } };
    },
  };
}

export interface RedisSpaceSettings {
  readonly url: string;
  readonly prefix: string;
  readonly clock: Clock;
}

export function redisBackend<P extends Closable>(make: (settings: RedisSpaceSettings) => P): ContractBackend<P> {
  return {
    name: 'redis',
    available: (t) => requireRedis(t),
    space() {
      const prefix = freshRedisPrefix();
      const opened: P[] = [];
      const space: ContractSpace<P> = {
        clock: systemClock,
        open() {
          const handle = make({ url: REDIS_URL, prefix, clock: systemClock });
          opened.push(handle);
          return handle;
        },
        // Redis expires keys by its own clock, which is this machine's.
        advance: (ms) => sleep(ms),
        lose: () => dropRedisSpace(REDIS_URL, prefix),
      };
      return {
        space,
        cleanup: async () => {
          for (const h of opened) await h.close();
          await dropRedisSpace(REDIS_URL, prefix);
        },
      };
    },
  };
}

/** Runs every case against every backend, each case on a fresh space. */
export function runContract<P>(
  port: string,
  backends: readonly ContractBackend<P>[],
  cases: Readonly<Record<string, (s: ContractSpace<P>) => Promise<void>>>,
  test: (name: string, fn: (t: TestContext) => Promise<void>) => unknown,
): void {
  for (const backend of backends) {
    test(`${port} contract: ${backend.name}`, async (t) => {
      if (!(await backend.available(t))) return;
      for (const [name, run] of Object.entries(cases)) {
        await t.test(name, async () => {
          const { space, cleanup } = backend.space();
          try {
            await run(space);
          } finally {
            await cleanup();
          }
        });
      }
    });
  }
}

/** Waits until `condition` holds, looking every 10 ms, for at most `limitMs`; false if it never did. */
export async function eventually(condition: () => boolean | Promise<boolean>, limitMs = 5000): Promise<boolean> {
  const until = Date.now() + limitMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > until) return false;
    await sleep(10);
  }
}
