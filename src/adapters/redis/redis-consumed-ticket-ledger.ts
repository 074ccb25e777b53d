import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isUuid } from '../../core/ids.js';
import type { ConsumedTicketLedger, LedgerAnswer, LedgerEntry } from '../../ports/consumed-ticket-ledger.js';
import type { LostListener, SharedStateCapabilities } from '../../ports/shared-state-capabilities.js';
import { DEFAULT_PREFIX, reportError, type RedisAdapterOptions } from './redis-adapter-options.js';
import { closeRedis, openRedis } from './redis-connection.js';
import { RedisScript } from './redis-script.js';
import { processMarker, StoreLossWatch } from './store-loss-watch.js';

// The consumed-ticket ledger in Redis: one key per ticket, set with NX (so exactly one of
// several concurrent consumers wins) and PXAT its forget time (so Redis drops it by itself).
//
// A Redis without persistence that restarts comes back empty, and an empty ledger would call
// every consumed ticket unused. So a `whole` marker says the ledger has been there all along.
// The first command that finds it missing sets it again and opens a refill window
// (`refillGraceMs`): until the window closes, a ticket the ledger does not hold is `unknown`
// rather than `unused`, while every writer (each content server process) notices the loss
// through its StoreLossWatch and puts back what it keeps locally.
//
// A write that does not reach Redis (it was unreachable for longer than the connection keeps
// commands waiting) still rejects, so the caller knows, but is also kept and written again once
// Redis answers: a Redis that comes back with its data is no loss, so no refill would ever put
// the entry there, and another process of the server, this server after a restart, or a server
// asked about a revoked ticket would find it unused.

const ENSURE_WHOLE = `
local function ensureWhole(whole, refilling, graceMs)
  if redis.call('EXISTS', whole) == 1 then return 0 end
  redis.call('SET', whole, '1')
  redis.call('SET', refilling, '1', 'PX', graceMs)
  return 1
end
`;

/** KEYS: ticket, whole, refilling. ARGV: forgetAt, now, graceMs. 1: consumed by this call, 0: already. */
const CONSUME = new RedisScript(`${ENSURE_WHOLE}
ensureWhole(KEYS[2], KEYS[3], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if tonumber(ARGV[1]) > tonumber(ARGV[2]) then redis.call('SET', KEYS[1], '1', 'PXAT', ARGV[1]) end
return 1
`);

/** KEYS: ticket, whole, refilling. ARGV: graceMs. */
const CHECK = new RedisScript(`${ENSURE_WHOLE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 'consumed' end
if ensureWhole(KEYS[2], KEYS[3], ARGV[1]) == 1 then return 'unknown' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'unknown' end
return 'unused'
`);

/** KEYS: whole, refilling, then one ticket key per entry. ARGV: graceMs, now, then one forgetAt per entry. */
const ADD_ALL = new RedisScript(`${ENSURE_WHOLE}
ensureWhole(KEYS[1], KEYS[2], ARGV[1])
local now = tonumber(ARGV[2])
for i = 3, #KEYS do
  local forgetAt = ARGV[i]
  if tonumber(forgetAt) > now then
    if not redis.call('SET', KEYS[i], '1', 'PXAT', forgetAt, 'NX') then
      redis.call('PEXPIREAT', KEYS[i], forgetAt, 'GT')
    end
  end
end
return 1
`);

const CHUNK = 500;
/** Most entries kept for writing again; beyond, the oldest go (their callers were told of the failure). */
const MAX_UNWRITTEN = 100_000;

export interface RedisLedgerOptions extends RedisAdapterOptions {
  /**
   * After the ledger was lost, how long a ticket it does not hold stays `unknown`: long
   * enough for every writer to reconnect and refill (default 10,000 ms).
   */
  readonly refillGraceMs?: number;
  /** How often writes that failed are tried again while there are any, ms (default 1,000); also at each reconnection. */
  readonly retryEveryMs?: number;
}

export class RedisConsumedTicketLedger implements ConsumedTicketLedger {
  readonly capabilities: SharedStateCapabilities = { crossProcess: true, losesStateOnStoreRestart: true };
  readonly #o: RedisLedgerOptions;
  readonly #p: string;
  readonly #redis: Redis;
  readonly #watch: StoreLossWatch;
  readonly #graceMs: number;
  readonly #onError: (error: unknown) => void;
  /** Writes that failed, by ticket ID: its forget time. */
  readonly #unwritten = new Map<string, number>();
  readonly #onReady = (): void => void this.#writeAgain();
  readonly #retryTimer: NodeJS.Timeout;
  #writingAgain: Promise<void> | undefined;

  constructor(options: RedisLedgerOptions) {
    this.#o = options;
    this.#p = options.prefix ?? DEFAULT_PREFIX;
    this.#graceMs = options.refillGraceMs ?? 10_000;
    const onError = reportError(options);
    this.#onError = onError;
    this.#redis = openRedis(options.url, { name: 'tessera-ledger', ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}) });
    this.#redis.on('error', onError);
    this.#redis.on('ready', this.#onReady);
    this.#retryTimer = setInterval(this.#onReady, options.retryEveryMs ?? 1000);
    this.#retryTimer.unref();
    this.#watch = new StoreLossWatch({
      client: this.#redis,
      isLost: processMarker(this.#redis, `${this.#p}alive:ledger:${randomUUID()}`),
      onError,
      ...(options.lossCheckMs ? { intervalMs: options.lossCheckMs } : {}),
    });
    this.#watch.start();
  }

  async consume(ticketId: string, forgetAt: number): Promise<boolean> {
    if (!isUuid(ticketId)) throw new TypeError('ticketId must be a lowercase UUID');
    let result: unknown;
    try {
      result = await CONSUME.run(this.#redis, [this.#ticketKey(ticketId), this.#wholeKey(), this.#refillingKey()], [
        Math.ceil(forgetAt),
        this.#o.clock.now(),
        this.#graceMs,
      ]);
    } catch (error) {
      this.#keep([{ ticketId, forgetAt }]);
      throw error;
    }
    return result === 1;
  }

  async check(ticketId: string): Promise<LedgerAnswer> {
    if (!isUuid(ticketId)) return 'unused';
    const answer = await CHECK.run(this.#redis, [this.#ticketKey(ticketId), this.#wholeKey(), this.#refillingKey()], [this.#graceMs]);
    if (answer === 'consumed' || answer === 'unused' || answer === 'unknown') return answer;
    throw new Error(`unexpected ledger answer ${String(answer)}`);
  }

  async addAll(entries: readonly LedgerEntry[]): Promise<void> {
    for (const e of entries) if (!isUuid(e.ticketId)) throw new TypeError('ticketId must be a lowercase UUID');
    const now = this.#o.clock.now();
    const live = entries.filter((e) => e.forgetAt > now);
    let at = 0;
    try {
      for (; at < Math.max(live.length, 1); at += CHUNK) await this.#addChunk(live.slice(at, at + CHUNK), now);
    } catch (error) {
      this.#keep(live.slice(at));
      throw error;
    }
  }

  onLost(listener: LostListener): () => void {
    return this.#watch.add(listener);
  }

  async close(): Promise<void> {
    this.#watch.stop();
    clearInterval(this.#retryTimer);
    this.#redis.off('ready', this.#onReady);
    await this.#writingAgain;
    await closeRedis(this.#redis);
  }

  #addChunk(chunk: readonly LedgerEntry[], now: number): Promise<unknown> {
    return ADD_ALL.run(
      this.#redis,
      [this.#wholeKey(), this.#refillingKey(), ...chunk.map((e) => this.#ticketKey(e.ticketId))],
      [this.#graceMs, now, ...chunk.map((e) => Math.ceil(e.forgetAt))],
    );
  }

  /** Keeps entries whose write failed, to write them again (an entry kept already keeps the later forget time). */
  #keep(entries: readonly LedgerEntry[]): void {
    // (A failed refill can hold millions: only the last MAX_UNWRITTEN could stay anyway.)
    for (const e of entries.length > MAX_UNWRITTEN ? entries.slice(-MAX_UNWRITTEN) : entries) {
      const held = this.#unwritten.get(e.ticketId);
      if (held !== undefined && held >= e.forgetAt) continue;
      this.#unwritten.delete(e.ticketId);
      this.#unwritten.set(e.ticketId, e.forgetAt);
    }
    for (const ticketId of this.#unwritten.keys()) {
      if (this.#unwritten.size <= MAX_UNWRITTEN) break;
      this.#unwritten.delete(ticketId);
    }
  }

  /** Writes what failed before, chunk by chunk, once Redis answers; what fails again stays kept. One at a time. */
  #writeAgain(): Promise<void> {
    if (this.#unwritten.size === 0 || this.#redis.status !== 'ready') return Promise.resolve();
    this.#writingAgain ??= (async () => {
      try {
        const now = this.#o.clock.now();
        const due: LedgerEntry[] = [];
        for (const [ticketId, forgetAt] of this.#unwritten) {
          if (forgetAt > now) due.push({ ticketId, forgetAt });
          else this.#unwritten.delete(ticketId);
        }
        for (let at = 0; at < due.length; at += CHUNK) {
          const chunk = due.slice(at, at + CHUNK);
          await this.#addChunk(chunk, now);
          // (Kept again meanwhile with a later forget time: that one is written next round.)
          for (const e of chunk) if (this.#unwritten.get(e.ticketId) === e.forgetAt) this.#unwritten.delete(e.ticketId);
        }
      } catch (error) {
        this.#onError(error);
      } finally {
        this.#writingAgain = undefined;
      }
    })();
    return this.#writingAgain;
  }

  #ticketKey(ticketId: string): string {
    return `${this.#p}ledger:t:${ticketId}`;
  }

  #wholeKey(): string {
    return `${this.#p}ledger:whole`;
  }

  #refillingKey(): string {
    return `${this.#p}ledger:refilling`;
  }
}
