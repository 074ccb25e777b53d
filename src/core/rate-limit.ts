// A token bucket per key (a client address), bounded in memory: when more keys than `maxKeys`
// are tracked, the least recently used are forgotten (a forgotten key starts with a full
// bucket, which errs on the side of the client).

export interface RateLimitPolicy {
  /** Tokens added per second. */
  readonly ratePerS: number;
  /** Bucket size: how many requests may come at once. */
  readonly burst: number;
  readonly maxKeys: number;
}

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #policy: RateLimitPolicy;
  readonly #buckets = new Map<string, Bucket>();

  constructor(policy: RateLimitPolicy) {
    if (!(policy.ratePerS > 0 && policy.burst >= 1 && policy.maxKeys >= 1)) throw new TypeError('bad rate limit policy');
    this.#policy = policy;
  }

  take(key: string, nowMs: number): RateDecision {
    const { ratePerS, burst, maxKeys } = this.#policy;
    const previous = this.#buckets.get(key);
    const bucket: Bucket = previous
      ? { tokens: Math.min(burst, previous.tokens + ((nowMs - previous.at) / 1000) * ratePerS), at: nowMs }
      : { tokens: burst, at: nowMs };
    // Re-insert so Map order is least-recently-used first.
    this.#buckets.delete(key);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#buckets.set(key, bucket);
      this.#evict(maxKeys);
      return { allowed: true };
    }
    this.#buckets.set(key, bucket);
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerS)) };
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(maxKeys: number): void {
    while (this.#buckets.size > maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest === undefined) break;
      this.#buckets.delete(oldest);
    }
  }
}
