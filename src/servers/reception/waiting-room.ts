import { EventEmitter } from 'node:events';
import type { Clock } from '../../core/clock.js';
import { TesseraError } from '../../core/errors.js';
import { signQueueToken, verifyQueueToken } from '../../core/queue/queue-token.js';
import { positionOverOutflowMs, predictAdmissions, ServiceTimeHistory } from '../../core/queue/wait-estimate.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentRecord, OrderRecord, Persistence } from '../../ports/persistence.js';
import type { ReceptionMetrics } from './metrics.js';
import { unavailableOnFailure, type Ordering, type PlacedOrder } from './ordering.js';
import type { ServerRegistry } from './server-registry.js';

// When every content server is busy (R9, seed 001 ¶0044–0050): the order joins a line kept in
// the database (so it survives a restart), the client is told its place, an honest estimate
// and when to come back, with a signed queue token. Admission is strictly in arrival order:
// an admission pass walks the line from the front and stops at the first order no server can
// take. The pass runs whenever capacity may have freed (a load report, a completion) and on
// a short tick while anyone waits. A client that long-polls (`Prefer: wait=N`) gets its
// ticket the moment it is admitted; one that does not come back within the grace period
// after the time it was given loses its place.

export interface WaitingRoomSettings {
  /** How long after its retry time a client may come back and keep its place. */
  readonly graceMs: number;
  /** Most clients in line; beyond, queue-full. */
  readonly maxLine: number;
  /** Longest a long-poll is held. */
  readonly maxPollMs: number;
  /** Longest a client is told to stay away, so estimates are refreshed. */
  readonly maxSleepMs: number;
  /** How often the admission pass runs while anyone waits. */
  readonly tickMs: number;
}

export const defaultWaitingRoomSettings: WaitingRoomSettings = {
  graceMs: 30_000,
  maxLine: 10_000,
  maxPollMs: 20_000,
  maxSleepMs: 60_000,
  tickMs: 200,
};

export interface WaitInfo {
  readonly orderId: string;
  readonly contentId: string;
  readonly position: number;
  readonly lineLength: number;
  readonly estimatedWaitMs: number;
  /** position ÷ recent outflow, the usual estimate, for comparison; null before any admission. */
  readonly baselineWaitMs: number | null;
  readonly retryAt: number;
  readonly queueToken: string;
  /** Unix ms when this was worked out. */
  readonly at: number;
}

export type Outcome = { readonly kind: 'admitted'; readonly placed: PlacedOrder } | { readonly kind: 'waiting'; readonly wait: WaitInfo };

export interface WaitingRoomDeps {
  readonly clock: Clock;
  readonly db: Persistence;
  readonly ordering: Ordering;
  readonly servers: ServerRegistry;
  readonly queueKey: Buffer;
  readonly metrics: ReceptionMetrics;
  readonly logger: Logger;
  readonly settings?: Partial<WaitingRoomSettings>;
}

/** Time from admission to the first byte flowing: a long-polling client fetches at once. */
const STARTUP_MS = 50;
const OUTFLOW_WINDOW_MS = 30_000;

interface LineView {
  readonly at: number;
  readonly position: ReadonlyMap<string, number>;
  readonly predictedAt: ReadonlyMap<string, number>;
  readonly length: number;
}

export class WaitingRoom {
  readonly #d: WaitingRoomDeps;
  readonly #s: WaitingRoomSettings;
  readonly #admitted = new EventEmitter();
  readonly #history = new ServiceTimeHistory();
  readonly #admissions: number[] = [];
  readonly #contents = new Map<string, ContentRecord>();
  #view: LineView = { at: 0, position: new Map(), predictedAt: new Map(), length: 0 };
  #passRunning: Promise<void> | undefined;
  #passAgain = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: WaitingRoomDeps) {
    this.#d = deps;
    this.#s = { ...defaultWaitingRoomSettings, ...deps.settings };
    this.#admitted.setMaxListeners(0);
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#view.length > 0) this.kick();
    }, this.#s.tickMs);
    this.#timer.unref();
    // Orders that were waiting before a restart are still in the database: look at them now.
    this.kick();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** A new order: admitted at once if nobody waits and a server takes it; otherwise in line. */
  async order(contentId: string, clientAddress: string | undefined): Promise<Outcome> {
    const d = this.#d;
    const content = await d.ordering.content(contentId);
    this.#contents.set(content.id, content);
    const order = await d.ordering.createOrder(content, clientAddress);
    const waiting = await unavailableOnFailure(() => d.db.orders.countQueued(d.clock.now()));
    if (waiting === 0) {
      const placed = await d.ordering.admit(order, content);
      if (placed) return { kind: 'admitted', placed };
      if (!(await d.ordering.anyServerHolds(content.id))) {
        await d.ordering.reject(order.id, 'no-server-holds-content');
        throw new TesseraError('no-server-holds-content', undefined, { retryAfterS: 5 });
      }
    }
    if (waiting >= this.#s.maxLine) {
      await d.ordering.reject(order.id, 'queue-full');
      throw new TesseraError('queue-full', `the line holds ${waiting} clients`, { retryAfterS: 30 });
    }
    const now = d.clock.now();
    const queued = await unavailableOnFailure(() => d.db.orders.markQueued(order.id, now + this.#s.graceMs, now));
    if (!queued) throw new TesseraError('internal', 'the order changed state while joining the line');
    d.metrics.orders.inc({ outcome: 'queued' });
    await this.#pass();
    return this.#outcomeOf(queued.id, content);
  }

  /** A waiting client comes back with its queue token, optionally waiting up to `waitMs` for its turn. */
  async comeBack(contentId: string | undefined, token: string, waitMs: number): Promise<Outcome> {
    const d = this.#d;
    const claims = verifyQueueToken(token, d.queueKey);
    if (contentId !== undefined && contentId !== claims.contentId) throw new TesseraError('queue-token-invalid', 'the token is for another item');
    const order = await unavailableOnFailure(() => d.db.orders.getOrder(claims.orderId));
    if (!order || order.queueSeq !== claims.seq || order.contentId !== claims.contentId) throw new TesseraError('queue-token-invalid');
    const content = this.#contents.get(order.contentId) ?? (await d.ordering.content(order.contentId));
    this.#contents.set(content.id, content);
    if (order.state === 'queued') {
      const now = d.clock.now();
      const wait = Math.min(Math.max(0, waitMs), this.#s.maxPollMs);
      const touched = await unavailableOnFailure(() => d.db.orders.touchQueued(order.id, now + wait + this.#s.graceMs, now));
      if (!touched) throw new TesseraError('queue-place-lost');
      // Listen before the pass: it may admit this very order.
      const admitted = wait > 0 ? this.#waitForAdmission(order.id, wait) : Promise.resolve();
      await this.#pass();
      await admitted;
    }
    return this.#outcomeOf(order.id, content);
  }

  /** Capacity may have freed: run an admission pass soon. */
  kick(): void {
    void this.#pass().catch((error: unknown) => this.#d.logger.warn({ err: error }, 'admission pass failed; retrying on the next tick'));
  }

  /** A content server reported an order done: learn its service time, and let the line move. */
  noteCompletion(order: OrderRecord, endedAt: number, delivered: boolean): void {
    if (order.serverId !== null && order.ticketId !== null) this.#d.servers.noteRelease(order.serverId, order.ticketId);
    if (delivered) this.#history.record(endedAt - order.updatedAt);
    this.kick();
  }

  /** What a client is told about an order it holds a token for. */
  async #outcomeOf(orderId: string, content: ContentRecord): Promise<Outcome> {
    const d = this.#d;
    const order = await unavailableOnFailure(() => d.db.orders.getOrder(orderId));
    if (!order) throw new TesseraError('order-not-found');
    switch (order.state) {
      case 'ticketed':
        return { kind: 'admitted', placed: d.ordering.ticketOf(order, content) };
      case 'completed':
        throw new TesseraError('ticket-consumed', 'this order has been delivered');
      case 'expired':
        if (order.reason === 'left-the-line') throw new TesseraError('queue-place-lost');
        throw new TesseraError('ticket-expired', 'the ticket of this order expired; order again');
      case 'rejected':
      case 'received':
        throw new TesseraError('queue-place-lost');
      case 'queued':
        return { kind: 'waiting', wait: await this.#waitInfo(order) };
      default: {
        const never: never = order.state;
        throw new TypeError(`unknown order state ${String(never)}`);
      }
    }
  }

  async #waitInfo(order: OrderRecord): Promise<WaitInfo> {
    const d = this.#d;
    const now = d.clock.now();
    let view = this.#view;
    if (!view.position.has(order.id)) view = await this.#rebuildView();
    const position = view.position.get(order.id) ?? (await d.db.orders.queuePosition(order.id, now)) ?? 1;
    const predicted = view.predictedAt.get(order.id);
    const estimatedWaitMs = predicted === undefined || !Number.isFinite(predicted) ? this.#fallbackWaitMs(position) : Math.max(0, predicted - now);
    // Come back early enough to be long-polling when the turn comes; never stay away so long
    // that the estimate goes stale. Those who could be next whenever any slot frees (as many as
    // there are slots) come straight back: a transfer can end much sooner than predicted.
    const nextUp = position <= d.servers.totalCapacity();
    const sleepMs = nextUp ? 0 : Math.min(this.#s.maxSleepMs, Math.max(0, estimatedWaitMs - this.#s.maxPollMs / 2));
    const retryAt = now + sleepMs;
    await unavailableOnFailure(() => d.db.orders.touchQueued(order.id, retryAt + this.#s.graceMs, now));
    const outflow = this.#outflowPerS(now);
    return {
      orderId: order.id,
      contentId: order.contentId,
      position,
      lineLength: Math.max(view.length, position),
      estimatedWaitMs,
      baselineWaitMs: outflow > 0 ? positionOverOutflowMs(position, outflow) : null,
      retryAt,
      at: now,
      queueToken: signQueueToken({ orderId: order.id, contentId: order.contentId, seq: order.queueSeq ?? 0, issuedAt: now }, d.queueKey),
    };
  }

  #fallbackWaitMs(position: number): number {
    const mean = this.#history.meanServiceMs ?? 2000;
    const slots = Math.max(1, this.#d.servers.liveServerIds().length);
    return (position * mean) / slots;
  }

  #outflowPerS(now: number): number {
    while (this.#admissions.length > 0 && (this.#admissions[0] ?? 0) < now - OUTFLOW_WINDOW_MS) this.#admissions.shift();
    return this.#admissions.length / (OUTFLOW_WINDOW_MS / 1000);
  }

  #waitForAdmission(orderId: string, waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#admitted.off(orderId, done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.#admitted.on(orderId, done);
    });
  }

  /** One admission pass at a time; a request for another during a pass runs one more after it. */
  #pass(): Promise<void> {
    if (this.#passRunning) {
      this.#passAgain = true;
      return this.#passRunning;
    }
    this.#passRunning = (async () => {
      try {
        do {
          this.#passAgain = false;
          await this.#admitFromFront();
        } while (this.#passAgain);
      } finally {
        this.#passRunning = undefined;
      }
    })();
    return this.#passRunning;
  }

  async #admitFromFront(): Promise<void> {
    const d = this.#d;
    const now = d.clock.now();
    for (const lapsed of await d.db.orders.expireLapsed(now, 1000)) {
      d.metrics.orders.inc({ outcome: 'left-the-line' });
      this.#admitted.emit(lapsed.id);
    }
    const line = this.#s.maxLine > 0 ? await d.db.orders.listQueued(now, this.#s.maxLine) : [];
    let admittedCount = 0;
    for (const order of line) {
      const content = this.#contents.get(order.contentId) ?? (await d.ordering.content(order.contentId));
      this.#contents.set(content.id, content);
      const placed = await d.ordering.admit(order, content);
      // Strict arrival order: if the front cannot go in, nobody behind it does.
      if (!placed) break;
      admittedCount++;
      this.#admissions.push(d.clock.now());
      d.metrics.admissionsFromLine.inc();
      this.#admitted.emit(order.id);
    }
    await this.#rebuildView(line.slice(admittedCount));
  }

  async #rebuildView(line?: readonly OrderRecord[]): Promise<LineView> {
    const d = this.#d;
    const now = d.clock.now();
    const waiting = line ?? (this.#s.maxLine > 0 ? await d.db.orders.listQueued(now, this.#s.maxLine) : []);
    const sizes: { size: number }[] = [];
    for (const order of waiting) {
      const content = this.#contents.get(order.contentId) ?? (await d.ordering.content(order.contentId));
      this.#contents.set(content.id, content);
      sizes.push({ size: content.size });
    }
    // Tessera places every item on every content server, so the whole pool serves the line.
    const slots = d.servers.slotForecasts(d.servers.liveServerIds(), this.#history, STARTUP_MS);
    const predicted = predictAdmissions(slots, sizes, now, this.#history, STARTUP_MS);
    const position = new Map<string, number>();
    const predictedAt = new Map<string, number>();
    waiting.forEach((order, i) => {
      position.set(order.id, i + 1);
      predictedAt.set(order.id, predicted[i] ?? Infinity);
    });
    // Passes and returning clients rebuild concurrently; an older snapshot never replaces a newer one.
    if (now >= this.#view.at) this.#view = { at: now, position, predictedAt, length: waiting.length };
    d.metrics.lineLength.set(waiting.length);
    return this.#view;
  }
}
