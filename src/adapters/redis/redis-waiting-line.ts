import type { Redis } from 'ioredis';
import type { LostListener, SharedStateCapabilities } from '../../ports/shared-state-capabilities.js';
import { SharedStateLost } from '../../ports/shared-state-lost.js';
import type { LineEntry, WaitingLine } from '../../ports/waiting-line.js';
import { DEFAULT_PREFIX, reportError, type RedisAdapterOptions } from './redis-adapter-options.js';
import { closeRedis, openRedis } from './redis-connection.js';
import { RedisScript } from './redis-script.js';
import { StoreLossWatch } from './store-loss-watch.js';

// The waiting line in Redis: a sorted set of order IDs by arrival number (`seq`), one by the
// time each client must come back (`due`), and a hash of the item each order waits for.
// Position is a ZCOUNT minus the lapsed orders ahead (few: the reception takes lapsed orders
// out on every admission pass); the front is a range read that skips lapsed ones. Each
// operation is one script, so it sees the three as one.
//
// A `whole` key says the line has been built from the order store; after a Redis restart it
// is gone and every read and join fails with SharedStateLost until `rebuild` sets it again.

const LOST = 'TESSERA_LINE_LOST';
// KEYS of every script: seq, due, whole, content (order ID → content ID).
const WHOLE = `if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('${LOST}') end\n`;

/** ARGV: orderId, seq, returnBy, contentId. */
const JOIN = new RedisScript(`${WHOLE}
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
return 1
`);

/** ARGV: orderId, returnBy, now. */
const TOUCH = new RedisScript(`${WHOLE}
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not due or tonumber(due) < tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`);

/**
 * ARGV: now, limit, lowest seq bound ("-inf" or "(<afterSeq>"). Returns orderId, seq,
 * returnBy, contentId quadruples of the orders still in line, in arrival order.
 */
const PAGE = new RedisScript(`${WHOLE}
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local out = {}
local found = 0
local offset = 0
local step = limit + 64
while found < limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], '+inf', 'WITHSCORES', 'LIMIT', offset, step)
  for i = 1, #page, 2 do
    local due = redis.call('ZSCORE', KEYS[2], page[i])
    if due and tonumber(due) >= now then
      out[#out + 1] = page[i]
      out[#out + 1] = page[i + 1]
      out[#out + 1] = due
      out[#out + 1] = redis.call('HGET', KEYS[4], page[i]) or ''
      found = found + 1
      if found == limit then break end
    end
  end
  if #page < 2 * step then break end
  offset = offset + step
end
return out
`);

/** ARGV: orderId, now. */
const POSITION = new RedisScript(`${WHOLE}
local seq = redis.call('ZSCORE', KEYS[1], ARGV[1])
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not seq or not due or tonumber(due) < tonumber(ARGV[2]) then return false end
local ahead = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. seq)
local mine = tonumber(seq)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])) do
  local s = redis.call('ZSCORE', KEYS[1], id)
  if s and tonumber(s) < mine then ahead = ahead - 1 end
end
return ahead + 1
`);

/** ARGV: now. */
const LENGTH = new RedisScript(`${WHOLE}
return redis.call('ZCARD', KEYS[1]) - redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[1])
`);

/** ARGV: orderId. Works on a lost line too: there is nothing to remove. */
const REMOVE = new RedisScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
`);

/** ARGV: now, limit. Returns quadruples: the earliest arrivals among the lapsed. */
const REMOVE_LAPSED = new RedisScript(`
local lapsed = {}
local flat = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'WITHSCORES')
for i = 1, #flat, 2 do
  local seq = redis.call('ZSCORE', KEYS[1], flat[i])
  lapsed[#lapsed + 1] = { id = flat[i], due = flat[i + 1], seq = seq, n = tonumber(seq or '0') }
end
table.sort(lapsed, function(a, b) return a.n < b.n end)
local out = {}
for i = 1, math.min(#lapsed, tonumber(ARGV[2])) do
  local e = lapsed[i]
  local contentId = redis.call('HGET', KEYS[4], e.id) or ''
  redis.call('ZREM', KEYS[1], e.id)
  redis.call('ZREM', KEYS[2], e.id)
  redis.call('HDEL', KEYS[4], e.id)
  if e.seq then
    out[#out + 1] = e.id
    out[#out + 1] = e.seq
    out[#out + 1] = e.due
    out[#out + 1] = contentId
  end
end
return out
`);

/** ARGV: orderId, seq, returnBy, contentId quadruples. */
const MERGE = new RedisScript(`
for i = 1, #ARGV, 4 do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[2], 'GT', ARGV[i + 2], ARGV[i])
  else
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
    redis.call('ZADD', KEYS[2], ARGV[i + 2], ARGV[i])
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 3])
  end
end
return 1
`);

/** KEYS: turn. ARGV: holder, ttlMs. */
const TAKE_TURN = new RedisScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

/** KEYS: turn. ARGV: holder. */
const END_TURN = new RedisScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`);

const CHUNK = 500;

function checkEntry(entry: LineEntry): void {
  if (typeof entry.contentId !== 'string' || entry.contentId === '') throw new TypeError('contentId must be a non-empty string');
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 1) throw new TypeError('seq must be a positive safe integer');
  if (!Number.isFinite(entry.returnBy)) throw new TypeError('returnBy must be a finite number');
}

function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError('limit must be a positive integer');
}

function entriesOf(reply: unknown): LineEntry[] {
  const flat = reply as string[];
  const out: LineEntry[] = [];
  for (let i = 0; i + 3 < flat.length; i += 4) {
    out.push({ orderId: flat[i] as string, contentId: flat[i + 3] as string, seq: Number(flat[i + 1]), returnBy: Number(flat[i + 2]) });
  }
  return out;
}

export class RedisWaitingLine implements WaitingLine {
  readonly capabilities: SharedStateCapabilities = { crossProcess: true, losesStateOnStoreRestart: true };
  readonly #p: string;
  readonly #redis: Redis;
  readonly #watch: StoreLossWatch;

  constructor(options: RedisAdapterOptions) {
    this.#p = options.prefix ?? DEFAULT_PREFIX;
    const onError = reportError(options);
    this.#redis = openRedis(options.url, { name: 'tessera-line', ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}) });
    this.#redis.on('error', onError);
    this.#watch = new StoreLossWatch({
      client: this.#redis,
      isLost: async () => (await this.#redis.exists(this.#keys()[2])) === 0,
      onError,
      ...(options.lossCheckMs ? { intervalMs: options.lossCheckMs } : {}),
    });
    this.#watch.start();
  }

  async join(entry: LineEntry): Promise<boolean> {
    checkEntry(entry);
    return (await this.#run(JOIN, [entry.orderId, entry.seq, entry.returnBy, entry.contentId])) === 1;
  }

  async touch(orderId: string, returnBy: number, now: number): Promise<boolean> {
    return (await this.#run(TOUCH, [orderId, returnBy, now])) === 1;
  }

  async front(now: number, limit: number): Promise<readonly LineEntry[]> {
    checkLimit(limit);
    return entriesOf(await this.#run(PAGE, [now, limit, '-inf']));
  }

  async after(afterSeq: number, now: number, limit: number): Promise<readonly LineEntry[]> {
    checkLimit(limit);
    if (!Number.isFinite(afterSeq)) throw new TypeError('afterSeq must be a finite number');
    return entriesOf(await this.#run(PAGE, [now, limit, `(${afterSeq}`]));
  }

  async position(orderId: string, now: number): Promise<number | undefined> {
    const reply = await this.#run(POSITION, [orderId, now]);
    return typeof reply === 'number' ? reply : undefined;
  }

  async length(now: number): Promise<number> {
    return Number(await this.#run(LENGTH, [now]));
  }

  async remove(orderId: string): Promise<boolean> {
    return (await REMOVE.run(this.#redis, this.#keys(), [orderId])) === 1;
  }

  async removeLapsed(now: number, limit: number): Promise<readonly LineEntry[]> {
    checkLimit(limit);
    return entriesOf(await REMOVE_LAPSED.run(this.#redis, this.#keys(), [now, limit])).sort((a, b) => a.seq - b.seq);
  }

  async rebuild(entries: readonly LineEntry[]): Promise<void> {
    entries.forEach(checkEntry);
    const keys = this.#keys();
    for (let at = 0; at < entries.length; at += CHUNK) {
      const args = entries.slice(at, at + CHUNK).flatMap((e) => [e.orderId, e.seq, e.returnBy, e.contentId]);
      await MERGE.run(this.#redis, keys, args);
    }
    await this.#redis.set(keys[2], '1');
    await this.#watch.check();
  }

  async takeTurn(holder: string, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new TypeError('ttlMs must be positive');
    return (await TAKE_TURN.run(this.#redis, [this.#turnKey()], [holder, Math.ceil(ttlMs)])) === 1;
  }

  async endTurn(holder: string): Promise<void> {
    await END_TURN.run(this.#redis, [this.#turnKey()], [holder]);
  }

  onLost(listener: LostListener): () => void {
    return this.#watch.add(listener);
  }

  async close(): Promise<void> {
    this.#watch.stop();
    await closeRedis(this.#redis);
  }

  async #run(script: RedisScript, args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await script.run(this.#redis, this.#keys(), args);
    } catch (error) {
      if (error instanceof Error && error.message.includes(LOST)) throw new SharedStateLost('waiting-line');
      throw error;
    }
  }

  #turnKey(): string {
    return `${this.#p}line:turn`;
  }

  #keys(): [string, string, string, string] {
    return [`${this.#p}line:seq`, `${this.#p}line:due`, `${this.#p}line:whole`, `${this.#p}line:content`];
  }
}
