import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LoadReport } from '../../core/control/messages.js';
import type { LoadReportBoard, PostedReport, ReportListener } from '../../ports/load-report-board.js';
import type { LostListener, SharedStateCapabilities, Unsubscribe } from '../../ports/shared-state-capabilities.js';
import { openMessage, parseMessage, sealMessage } from './message-seal.js';
import { DEFAULT_PREFIX, reportError, type RedisAdapterOptions } from './redis-adapter-options.js';
import { closeRedis, openBlockingRedis, openRedis, whenReady } from './redis-connection.js';
import { RedisScript } from './redis-script.js';
import { processMarker, StoreLossWatch } from './store-loss-watch.js';

// The load-report board in Redis: one hash per server ({s: sentAt, w: the sealed posted
// report}) that expires by itself (PEXPIRE), a set of the server IDs to list them, and a
// pub/sub channel on which every taken report is announced. Posting is one script, so the
// "older report never replaces a newer one" check and the announcement cannot interleave with
// another post.

const POST = new RedisScript(`
local current = redis.call('HGET', KEYS[1], 's')
if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'w', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[1] .. ' ' .. ARGV[3])
return 1
`);

/** KEYS: the index. ARGV: key prefix, then server IDs whose report was found gone. */
const PRUNE = new RedisScript(`
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end
end
return 1
`);

/**
 * A sealed report read (or announced) this long after its own expiry is a replay — someone
 * with write access to Redis putting an old, validly sealed report back to keep a dead server
 * looking alive — and is dropped. The margin is the clock skew tickets tolerate.
 */
const EXPIRED_REPORT_TOLERANCE_MS = 5000;

export class RedisLoadReportBoard implements LoadReportBoard {
  readonly capabilities: SharedStateCapabilities = { crossProcess: true, losesStateOnStoreRestart: true };
  readonly #o: RedisAdapterOptions;
  readonly #p: string;
  readonly #redis: Redis;
  readonly #watch: StoreLossWatch;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<ReportListener>();
  #subscriber: Promise<Redis> | undefined;
  /** The subscriber's connection as soon as it is opened: close() drops it even while it is still connecting. */
  #subConnection: Redis | undefined;

  constructor(options: RedisAdapterOptions) {
    this.#o = options;
    this.#p = options.prefix ?? DEFAULT_PREFIX;
    this.#onError = reportError(options);
    this.#redis = openRedis(options.url, { name: 'tessera-board', ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}) });
    this.#redis.on('error', this.#onError);
    this.#watch = new StoreLossWatch({
      client: this.#redis,
      isLost: processMarker(this.#redis, `${this.#p}alive:board:${randomUUID()}`),
      onError: this.#onError,
      ...(options.lossCheckMs ? { intervalMs: options.lossCheckMs } : {}),
    });
    this.#watch.start();
  }

  async post(report: LoadReport, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new TypeError('ttlMs must be a positive number');
    const now = this.#o.clock.now();
    const posted: PostedReport = { report, postedAt: now, expiresAt: now + ttlMs };
    const wire = sealMessage(this.#o.seal, report.serverId, JSON.stringify(posted), 'sign');
    const taken = await POST.run(this.#redis, [this.#reportKey(report.serverId), this.#indexKey()], [
      report.serverId,
      report.sentAt,
      wire,
      Math.ceil(ttlMs),
      this.#channel(),
    ]);
    return taken === 1;
  }

  async get(serverId: string): Promise<PostedReport | undefined> {
    const wire = await this.#redis.hget(this.#reportKey(serverId), 'w');
    return wire === null ? undefined : this.#open(serverId, wire);
  }

  async list(): Promise<readonly PostedReport[]> {
    const ids = (await this.#redis.smembers(this.#indexKey())).sort();
    if (ids.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hget(this.#reportKey(id), 'w');
    const replies = (await pipeline.exec()) ?? [];
    const out: PostedReport[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const [error, wire] = replies[i] ?? [null, null];
      if (error) throw error;
      if (typeof wire !== 'string') {
        gone.push(id);
        return;
      }
      const posted = this.#open(id, wire);
      if (posted) out.push(posted);
    });
    // The set outlives expired reports. Checked again inside the script: a server may have
    // reported again since the read.
    if (gone.length > 0) await PRUNE.run(this.#redis, [this.#indexKey()], [this.#reportKey(''), ...gone]).catch(this.#onError);
    return out;
  }

  async subscribe(listener: ReportListener): Promise<Unsubscribe> {
    const own: ReportListener = (posted) => listener(posted);
    await this.#ensureSubscriber();
    this.#listeners.add(own);
    return async () => {
      this.#listeners.delete(own);
    };
  }

  onLost(listener: LostListener): () => void {
    return this.#watch.add(listener);
  }

  async close(): Promise<void> {
    this.#watch.stop();
    this.#listeners.clear();
    const connection = this.#subConnection;
    this.#subscriber = undefined;
    this.#subConnection = undefined;
    if (connection) await closeRedis(connection);
    await closeRedis(this.#redis);
  }

  #ensureSubscriber(): Promise<Redis> {
    this.#subscriber ??= (async () => {
      const sub = openBlockingRedis(this.#o.url, { name: 'tessera-board-sub' });
      this.#subConnection = sub;
      sub.on('error', this.#onError);
      sub.on('message', (_channel: string, message: string) => this.#announce(message));
      try {
        await whenReady(sub);
        await sub.subscribe(this.#channel());
      } catch (error) {
        this.#subscriber = undefined;
        if (this.#subConnection === sub) this.#subConnection = undefined;
        await closeRedis(sub);
        throw error;
      }
      return sub;
    })();
    return this.#subscriber;
  }

  #announce(message: string): void {
    const at = message.indexOf(' ');
    if (at < 0) return;
    const posted = this.#open(message.slice(0, at), message.slice(at + 1));
    if (!posted) return;
    for (const listener of [...this.#listeners]) {
      try {
        listener(posted);
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  #open(serverId: string, wire: string): PostedReport | undefined {
    const payload = openMessage(this.#o.seal, serverId, wire, 'sign');
    if (payload === undefined) {
      this.#onError(new Error(`a load report for ${serverId} failed its seal; ignored`));
      return undefined;
    }
    const parsed = parseMessage(payload);
    const report = parsed?.['report'];
    if (typeof report !== 'object' || report === null || !('serverId' in report) || report.serverId !== serverId) {
      this.#onError(new Error(`a load report for ${serverId} names another server or none; ignored`));
      return undefined;
    }
    const expiresAt = parsed?.['expiresAt'];
    if (typeof expiresAt !== 'number' || expiresAt + EXPIRED_REPORT_TOLERANCE_MS < this.#o.clock.now()) {
      this.#onError(new Error(`a load report for ${serverId} expired ${typeof expiresAt === 'number' ? `${this.#o.clock.now() - expiresAt} ms ago` : '(no expiry)'}: a replay; ignored`));
      return undefined;
    }
    return parsed as unknown as PostedReport;
  }

  #reportKey(serverId: string): string {
    return `${this.#p}board:r:${serverId}`;
  }

  #indexKey(): string {
    return `${this.#p}board:servers`;
  }

  #channel(): string {
    return `${this.#p}board:posted`;
  }
}
