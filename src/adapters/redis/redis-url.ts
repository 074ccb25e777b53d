// Which Redis `TESSERA_REDIS_URL` names: redis://[user:password@]host[:port][/db], or
// rediss:// for TLS. Checked once at start so a typo fails there, not at the first order.

export interface RedisTarget {
  readonly url: string;
  readonly tls: boolean;
  readonly db: number;
}

/** Throws TypeError for a URL no adapter serves; the message never repeats the URL (it may hold a password). */
export function parseRedisUrl(url: string): RedisTarget {
  if (url === '') throw new TypeError('the Redis URL is empty');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('the Redis URL is not a URL (use redis://host:port/db)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`unsupported Redis URL scheme "${parsed.protocol}" (use redis:// or rediss://)`);
  }
  if (parsed.hostname === '') throw new TypeError('the Redis URL names no host');
  const path = parsed.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!Number.isSafeInteger(db) || db < 0 || db > 15 || !/^\d*$/.test(path)) {
    throw new TypeError('the Redis URL path must be a database number 0..15');
  }
  return { url, tls: parsed.protocol === 'rediss:', db };
}
