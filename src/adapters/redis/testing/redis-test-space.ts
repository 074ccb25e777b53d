import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

// A key space of its own in the test Redis for each test case, so test files running in
// parallel against the same server never see each other's keys, and "Redis lost everything"
// can be played on one space without touching the others.

export function freshRedisPrefix(): string {
  return `tessera-test:${process.pid}:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key of the space: what a restart without persistence does to it. */
export async function dropRedisSpace(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect(false);
  }
}
