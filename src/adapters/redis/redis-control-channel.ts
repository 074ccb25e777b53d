import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Completion } from '../../core/control/messages.js';
import type {
  CompletionHandler,
  CompletionStream,
  CompletionWatcher,
  ConsumeOptions,
  ControlAnswer,
  ControlChannel,
  ControlChannelCapabilities,
  ControlHandler,
  ControlReply,
  ControlRequest,
} from '../../ports/control-channel.js';
import type { Unsubscribe } from '../../ports/shared-state-capabilities.js';
import { openMessage, parseMessage, sealMessage } from './message-seal.js';
import { DEFAULT_PREFIX, reportError, type RedisAdapterOptions } from './redis-adapter-options.js';
import { closeRedis, openBlockingRedis, openRedis, whenReady } from './redis-connection.js';
import { processMarker, StoreLossWatch } from './store-loss-watch.js';

// The control channel over Redis.
//
// Requests: each served content server listens on its own pub/sub channel; a requester
// publishes there with a reply channel of its own and a deadline, and waits. PUBLISH says how
// many listened, so a request to a server nobody serves is answered `unreachable` at once. A
// server drops a request whose deadline has passed (it arrived after the requester gave up)
// by more than `clockToleranceMs`: the deadline is the requester's clock, and receptions and
// content servers on different machines disagree by as much as tickets tolerate, so a server a
// few seconds ahead would otherwise drop every request and look unreachable.
// Requests and answers are encrypted under the server's key when a seal is configured.
//
// Completions: a stream with one consumer group, `receptions`. Each reception reads as its own
// consumer; an entry is acknowledged (and deleted) only after the handler recorded it; entries
// a consumer took and never acknowledged are claimed by another after claimIdleMs (XAUTOCLAIM).
// Redis without persistence loses the stream when it restarts, so a producer keeps what it
// appended for `resendWindowMs` and appends it again when it finds the store was lost: the
// receptions record a completion once however often it comes.
//
// Watchers: a producer also publishes what it appends (the same signed messages, one pub/sub
// message per append and server) on one channel, and every watching process hears it: a hint
// that the slots ended, for the reception that sent a notice when another records the
// completion. Pub/sub keeps
// nothing, so a watcher hears only what is published while it listens; completions appended
// again after a loss are not published again (their slots ended long since).

const GROUP = 'receptions';

interface RequestEnvelope {
  readonly id: string;
  readonly replyTo: string;
  /** Unix ms (requester's clock): answer only before this. */
  readonly deadline: number;
  readonly request: ControlRequest;
}

interface Waiting {
  readonly serverId: string;
  readonly resolve: (answer: ControlAnswer) => void;
}

type StreamEntry = [id: string, fields: string[] | null];

export interface RedisControlChannelOptions extends RedisAdapterOptions {
  /** How long a producer keeps appended completions to append again after a loss, ms (default 600,000). */
  readonly resendWindowMs?: number;
  /** Approximate cap on the stream, entries (default 1,000,000): only reached when no reception reads. */
  readonly maxStreamLength?: number;
  /** Longest a consumer blocks waiting for new completions before it looks for abandoned ones, ms (default 1,000). */
  readonly blockMs?: number;
  /**
   * How far a server's clock may run ahead of a requester's before it drops that requester's
   * requests as late, ms (default 5,000, the default ticket clock tolerance).
   */
  readonly clockToleranceMs?: number;
}

export class RedisControlChannel implements ControlChannel {
  readonly capabilities: ControlChannelCapabilities = { crossProcess: true, detectsAbsentResponder: true };
  readonly completions: CompletionStream;
  readonly #o: RedisControlChannelOptions;
  readonly #p: string;
  readonly #redis: Redis;
  readonly #onError: (error: unknown) => void;
  readonly #watch: StoreLossWatch;
  readonly #replyChannel: string;
  readonly #waiting = new Map<string, Waiting>();
  readonly #served = new Map<string, ControlHandler>();
  readonly #consumers = new Set<Unsubscribe>();
  /** Appended completions kept for resending after a loss, oldest first. */
  #sent: { at: number; completion: Completion }[] = [];
  #subscriber: Promise<Redis> | undefined;
  /** The subscriber's connection as soon as it is opened: close() drops it even while it is still connecting. */
  #subConnection: Redis | undefined;
  #replySubscribed: Promise<void> | undefined;
  readonly #watchers = new Set<CompletionWatcher>();
  #endedSubscribed: Promise<void> | undefined;

  constructor(options: RedisControlChannelOptions) {
    this.#o = options;
    this.#p = options.prefix ?? DEFAULT_PREFIX;
    this.#onError = reportError(options);
    this.#redis = openRedis(options.url, { name: 'tessera-control', ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}) });
    this.#redis.on('error', this.#onError);
    this.#replyChannel = `${this.#p}ctl:reply:${randomUUID()}`;
    this.#watch = new StoreLossWatch({
      client: this.#redis,
      isLost: processMarker(this.#redis, `${this.#p}alive:ctl:${randomUUID()}`),
      onError: this.#onError,
      ...(options.lossCheckMs ? { intervalMs: options.lossCheckMs } : {}),
    });
    this.#watch.add(() => void this.#resend());
    this.#watch.start();
    this.completions = {
      append: (completions) => this.#append(completions),
      consume: (consumer, handler, opts) => this.#consume(consumer, handler, opts ?? {}),
      watch: (handler) => this.#watchCompletions(handler),
    };
  }

  request(serverId: string, request: ControlRequest, timeoutMs: number): Promise<ControlAnswer> {
    const envelope: RequestEnvelope = { id: randomUUID(), replyTo: this.#replyChannel, deadline: this.#o.clock.now() + timeoutMs, request };
    return new Promise<ControlAnswer>((resolve) => {
      // The timer runs from the start: while Redis is down, subscribing waits for it too.
      const timer = setTimeout(() => finish({ kind: 'unanswered', reason: 'timeout' }), timeoutMs);
      const finish = (answer: ControlAnswer): void => {
        if (!this.#waiting.delete(envelope.id)) return;
        clearTimeout(timer);
        resolve(answer);
      };
      this.#waiting.set(envelope.id, { serverId, resolve: finish });
      void this.#send(serverId, envelope, finish);
    });
  }

  async #send(serverId: string, envelope: RequestEnvelope, finish: (answer: ControlAnswer) => void): Promise<void> {
    try {
      await this.#subscribeReplies();
      if (!this.#waiting.has(envelope.id)) return;
      const wire = sealMessage(this.#o.seal, serverId, JSON.stringify(envelope), 'encrypt');
      const listeners = await this.#redis.publish(this.#serverChannel(serverId), wire);
      if (listeners === 0) finish({ kind: 'unanswered', reason: 'unreachable' });
    } catch (error) {
      this.#onError(error);
      finish({ kind: 'unanswered', reason: 'unreachable' });
    }
  }

  async serve(serverId: string, handler: ControlHandler): Promise<Unsubscribe> {
    if (this.#served.has(serverId)) throw new TypeError(`server ${serverId} is served already`);
    this.#served.set(serverId, handler);
    const channel = this.#serverChannel(serverId);
    try {
      await (await this.#ensureSubscriber()).subscribe(channel);
    } catch (error) {
      this.#served.delete(serverId);
      throw error;
    }
    return async () => {
      if (this.#served.get(serverId) !== handler) return;
      this.#served.delete(serverId);
      const sub = await this.#subscriber?.catch(() => undefined);
      await sub?.unsubscribe(channel).catch(this.#onError);
    };
  }

  async close(): Promise<void> {
    this.#watch.stop();
    for (const stop of [...this.#consumers]) await stop();
    for (const waiting of [...this.#waiting.values()]) waiting.resolve({ kind: 'unanswered', reason: 'unreachable' });
    this.#served.clear();
    const connection = this.#subConnection;
    this.#subscriber = undefined;
    this.#subConnection = undefined;
    if (connection) await closeRedis(connection);
    await closeRedis(this.#redis);
  }

  // Requests and answers.

  #subscribeReplies(): Promise<void> {
    this.#replySubscribed ??= (async () => {
      await (await this.#ensureSubscriber()).subscribe(this.#replyChannel);
    })().catch((error: unknown) => {
      this.#replySubscribed = undefined;
      throw error;
    });
    return this.#replySubscribed;
  }

  #ensureSubscriber(): Promise<Redis> {
    this.#subscriber ??= (async () => {
      const sub = openBlockingRedis(this.#o.url, { name: 'tessera-control-sub' });
      this.#subConnection = sub;
      sub.on('error', this.#onError);
      sub.on('message', (channel: string, message: string) => {
        if (channel === this.#replyChannel) this.#onReply(message);
        else if (channel === this.#endedChannel()) this.#onEnded(message);
        else this.#onRequest(channel, message).catch(this.#onError);
      });
      try {
        // Not one SUBSCRIBE before the handshake is done (whenReady).
        await whenReady(sub);
      } catch (error) {
        this.#subscriber = undefined;
        if (this.#subConnection === sub) this.#subConnection = undefined;
        throw error;
      }
      return sub;
    })();
    return this.#subscriber;
  }

  #onReply(message: string): void {
    const at = message.indexOf(' ');
    const waiting = at < 0 ? undefined : this.#waiting.get(message.slice(0, at));
    if (!waiting) return;
    const payload = openMessage(this.#o.seal, waiting.serverId, message.slice(at + 1), 'encrypt');
    if (payload === undefined) {
      this.#onError(new Error(`an answer from ${waiting.serverId} failed its seal; ignored`));
      return;
    }
    const reply = parseMessage(payload);
    if (typeof reply?.['kind'] !== 'string') {
      this.#onError(new Error(`an answer from ${waiting.serverId} is not a control reply; ignored`));
      return;
    }
    waiting.resolve(reply as unknown as ControlReply);
  }

  async #onRequest(channel: string, message: string): Promise<void> {
    const serverId = channel.slice(this.#serverChannel('').length);
    const handler = this.#served.get(serverId);
    if (!handler) return;
    const payload = openMessage(this.#o.seal, serverId, message, 'encrypt');
    if (payload === undefined) {
      this.#onError(new Error(`a request to ${serverId} failed its seal; ignored`));
      return;
    }
    const parsed = parseMessage(payload);
    if (typeof parsed?.['id'] !== 'string' || typeof parsed['replyTo'] !== 'string' || typeof parsed['deadline'] !== 'number' || typeof parsed['request'] !== 'object' || parsed['request'] === null) {
      this.#onError(new Error(`a request to ${serverId} is not a control request; ignored`));
      return;
    }
    const envelope = parsed as unknown as RequestEnvelope;
    if (this.#o.clock.now() > envelope.deadline + (this.#o.clockToleranceMs ?? 5000)) return;
    let reply: ControlReply;
    try {
      reply = await handler(envelope.request);
    } catch (error) {
      reply = { kind: 'refused', code: 'internal', detail: error instanceof Error ? error.message : String(error) };
    }
    const wire = sealMessage(this.#o.seal, serverId, JSON.stringify(reply), 'encrypt');
    await this.#redis.publish(envelope.replyTo, `${envelope.id} ${wire}`).catch(this.#onError);
  }

  #serverChannel(serverId: string): string {
    return `${this.#p}ctl:to:${serverId}`;
  }

  // Completions.

  #streamKey(): string {
    return `${this.#p}ctl:completions`;
  }

  async #append(completions: readonly Completion[]): Promise<void> {
    if (completions.length === 0) return;
    const wires = await this.#xadd(completions);
    this.#announceEnded(completions, wires);
    const now = this.#o.clock.now();
    for (const completion of completions) this.#sent.push({ at: now, completion });
    const keepFrom = now - (this.#o.resendWindowMs ?? 600_000);
    let drop = 0;
    while (drop < this.#sent.length && (this.#sent[drop]?.at ?? 0) < keepFrom) drop++;
    if (drop > 0) this.#sent = this.#sent.slice(drop);
  }

  /** Appends to the stream; returns each completion's signed message. */
  async #xadd(completions: readonly Completion[]): Promise<string[]> {
    const pipeline = this.#redis.pipeline();
    const cap = String(this.#o.maxStreamLength ?? 1_000_000);
    const wires = completions.map((c) => sealMessage(this.#o.seal, c.serverId, JSON.stringify(c), 'sign'));
    completions.forEach((c, i) => pipeline.xadd(this.#streamKey(), 'MAXLEN', '~', cap, '*', 's', c.serverId, 'c', wires[i] as string));
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error !== null);
    if (failed?.[0]) throw failed[0];
    return wires;
  }

  /**
   * Tells the watchers, once the completions are safely in the stream. Best effort and apart
   * from the append: a hint that cannot be published must not make the append fail (the
   * producer would append again) nor hold it up.
   */
  #announceEnded(completions: readonly Completion[], wires: readonly string[]): void {
    // One message per server (an append is one content server's batch): each watcher hears the
    // batch at once, not one message per completion.
    const byServer = new Map<string, string[]>();
    completions.forEach((c, i) => {
      const part = byServer.get(c.serverId);
      if (part) part.push(wires[i] as string);
      else byServer.set(c.serverId, [wires[i] as string]);
    });
    const pipeline = this.#redis.pipeline();
    for (const [serverId, signed] of byServer) pipeline.publish(this.#endedChannel(), `${serverId} ${JSON.stringify(signed)}`);
    pipeline.exec().then(
      (results) => {
        const failed = (results ?? []).find(([error]) => error !== null);
        if (failed?.[0]) this.#onError(failed[0]);
      },
      this.#onError,
    );
  }

  async #resend(): Promise<void> {
    if (this.#sent.length === 0) return;
    try {
      await this.#xadd(this.#sent.map((s) => s.completion));
    } catch (error) {
      this.#onError(error);
    }
  }

  #endedChannel(): string {
    return `${this.#p}ctl:ended`;
  }

  async #watchCompletions(handler: CompletionWatcher): Promise<Unsubscribe> {
    // One registration per watch, even for the same handler twice.
    const watcher: CompletionWatcher = (batch) => handler(batch);
    this.#watchers.add(watcher);
    try {
      this.#endedSubscribed ??= (async () => {
        await (await this.#ensureSubscriber()).subscribe(this.#endedChannel());
      })().catch((error: unknown) => {
        this.#endedSubscribed = undefined;
        throw error;
      });
      await this.#endedSubscribed;
    } catch (error) {
      this.#watchers.delete(watcher);
      throw error;
    }
    // Stopping only forgets the watcher: the subscription stays until close() drops the
    // connection. An UNSUBSCRIBE would wait for Redis, so a reception stopping while Redis is
    // down would never finish stopping; and a watch begun meanwhile could lose the channel.
    const stop: Unsubscribe = async () => {
      this.#consumers.delete(stop);
      this.#watchers.delete(watcher);
    };
    this.#consumers.add(stop);
    return stop;
  }

  /** `<serverId> <JSON array of that server's signed completions>` (#announceEnded). */
  #onEnded(message: string): void {
    const at = message.indexOf(' ');
    if (at < 0) return;
    const serverId = message.slice(0, at);
    let signed: unknown;
    try {
      signed = JSON.parse(message.slice(at + 1));
    } catch {
      signed = undefined;
    }
    if (!Array.isArray(signed)) {
      this.#onError(new Error(`a completion hint from ${serverId.slice(0, 40)} is not a list; ignored`));
      return;
    }
    const batch: Completion[] = [];
    for (const wire of signed) {
      const completion = typeof wire === 'string' ? this.#openSigned(serverId, wire) : undefined;
      if (completion !== undefined) batch.push(completion);
    }
    if (batch.length === 0) return;
    for (const watcher of [...this.#watchers]) {
      try {
        watcher(batch);
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  async #consume(consumer: string, handler: CompletionHandler, options: ConsumeOptions): Promise<Unsubscribe> {
    const maxBatch = options.maxBatch ?? 100;
    const claimIdleMs = options.claimIdleMs ?? 30_000;
    const claimEveryMs = Math.max(25, Math.min(1000, claimIdleMs / 2));
    const blockMs = Math.min(this.#o.blockMs ?? 1000, claimEveryMs);
    const key = this.#streamKey();
    const conn = openBlockingRedis(this.#o.url, { name: 'tessera-completions' });
    conn.on('error', this.#onError);
    let stopped = false;
    /** A handler is running: a reception that stops now must not wait for it (it may never end). */
    let handling = false;

    const ensureGroup = async (): Promise<void> => {
      try {
        // From the start of the stream: entries appended again after a loss, before any
        // reception recreated the group, must be read too.
        await conn.xgroup('CREATE', key, GROUP, '0', 'MKSTREAM');
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
      }
    };

    const settle = async (entries: readonly StreamEntry[]): Promise<void> => {
      const batch: Completion[] = [];
      const ids: string[] = [];
      const junk: string[] = [];
      for (const [id, fields] of entries) {
        const completion = fields === null ? undefined : this.#openCompletion(fields);
        if (completion === undefined) junk.push(id);
        else {
          batch.push(completion);
          ids.push(id);
        }
      }
      // Entries deleted under us, or that fail their seal, would come back forever.
      if (junk.length > 0) await this.#ack(conn, junk);
      if (batch.length === 0) return;
      handling = true;
      try {
        await handler(batch);
      } catch (error) {
        this.#onError(error);
        return;
      } finally {
        handling = false;
      }
      if (!stopped) await this.#ack(conn, ids);
    };

    const loop = async (): Promise<void> => {
      let groupReady = false;
      let ownPending = true;
      let claimAt = 0;
      while (!stopped) {
        try {
          if (!groupReady) {
            await ensureGroup();
            groupReady = true;
          }
          let entries: StreamEntry[] = [];
          if (ownPending) {
            // What this consumer took before a restart and never acknowledged.
            entries = readEntries(await conn.xreadgroup('GROUP', GROUP, consumer, 'COUNT', maxBatch, 'STREAMS', key, '0'));
            if (entries.length < maxBatch) ownPending = false;
          } else if (Date.now() >= claimAt) {
            claimAt = Date.now() + claimEveryMs;
            const claimed = (await conn.xautoclaim(key, GROUP, consumer, claimIdleMs, '0-0', 'COUNT', maxBatch)) as unknown[];
            entries = (claimed[1] as StreamEntry[] | undefined) ?? [];
          }
          if (entries.length === 0) {
            entries = readEntries(await conn.xreadgroup('GROUP', GROUP, consumer, 'COUNT', maxBatch, 'BLOCK', blockMs, 'STREAMS', key, '>'));
          }
          if (entries.length > 0) await settle(entries);
        } catch (error) {
          if (stopped) break;
          if (error instanceof Error && error.message.startsWith('NOGROUP')) {
            groupReady = false;
            continue;
          }
          this.#onError(error);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };

    const running = loop();
    const stop: Unsubscribe = async () => {
      if (stopped) return;
      stopped = true;
      this.#consumers.delete(stop);
      conn.disconnect(false);
      if (!handling) await running;
    };
    this.#consumers.add(stop);
    return stop;
  }

  async #ack(conn: Redis, ids: readonly string[]): Promise<void> {
    try {
      await conn.xack(this.#streamKey(), GROUP, ...ids);
      await conn.xdel(this.#streamKey(), ...ids);
    } catch (error) {
      // A lost stream has nothing left to acknowledge.
      this.#onError(error);
    }
  }

  #openCompletion(fields: readonly string[]): Completion | undefined {
    let serverId: string | undefined;
    let wire: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 's') serverId = fields[i + 1];
      else if (fields[i] === 'c') wire = fields[i + 1];
    }
    if (serverId === undefined || wire === undefined) return undefined;
    return this.#openSigned(serverId, wire);
  }

  /** A completion signed by `serverId`'s key (when a seal is configured), or undefined. */
  #openSigned(serverId: string, wire: string): Completion | undefined {
    const payload = openMessage(this.#o.seal, serverId, wire, 'sign');
    if (payload === undefined) {
      this.#onError(new Error(`a completion from ${serverId} failed its seal; dropped`));
      return undefined;
    }
    const completion = parseMessage(payload);
    return completion?.['serverId'] === serverId ? (completion as unknown as Completion) : undefined;
  }
}

function readEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  const stream = reply[0] as [string, StreamEntry[]] | undefined;
  return stream?.[1] ?? [];
}
