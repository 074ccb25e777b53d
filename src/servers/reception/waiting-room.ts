import { EventEmitter } from 'node:events';
import type { Clock } from '../../core/clock.js';
import { TesseraError } from '../../core/errors.js';
import { LineCopy, type LinePlace } from '../../core/queue/line-copy.js';
import { signQueueToken, verifyQueueToken } from '../../core/queue/queue-token.js';
import { OUTFLOW_WINDOW_MS, recentOutflowPerS } from '../../core/queue/recent-outflow.js';
import { SlotOverhead } from '../../core/queue/slot-overhead.js';
import { SlotTurnover } from '../../core/queue/slot-turnover.js';
import { AdmissionReplay, positionOverOutflowMs, serviceTimeMs, ServiceTimeHistory } from '../../core/queue/wait-estimate.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentRecord, OrderRecord, Persistence } from '../../ports/persistence.js';
import { SharedStateLost } from '../../ports/shared-state-lost.js';
import type { LineEntry, WaitingLine } from '../../ports/waiting-line.js';
import type { ReceptionMetrics } from './metrics.js';
import { OrderMovedOn, unavailableOnFailure, type Ordering, type PlacedOrder } from './ordering.js';
import { isOutage } from './outage.js';
import type { ServerRegistry } from './server-registry.js';

// When every content server is busy (R9, seed 001 ¶0044–0050): the order joins a line kept in
// the database (so it survives a restart), the client is told its place, an honest estimate
// and when to come back, with a signed queue token. Admission is strictly in arrival order:
// an admission pass reads the front of the line from the database — as many orders as there
// are free slots — and stops at the first order no server can take. The pass runs whenever
// capacity may have freed (a load report, a completion) and on a short tick while anyone
// waits. A client that long-polls (`Prefer: wait=N`) gets its ticket the moment it is
// admitted; one that does not come back within the grace period after the time it was given
// loses its place.
//
// Places and estimates come from a copy of the line in memory (src/core/queue/line-copy.ts),
// changed as the line changes and reloaded from the database at start and now and then, and
// from a replay of that line over the slots' forecasts, redone at most every viewMaxAgeMs and
// carried on for the clients who join meanwhile. So a burst of new orders costs a few small
// statements each, not a read of the whole line.
//
// Several receptions (TESSERA_REDIS_URL, docs/scale-out.md) share one line on Redis instead:
// position, length and the front come from it, every join and return goes to it, and it is
// rebuilt from the database at start and whenever its store lost it. One reception at a time
// runs the admission pass (the line's admission turn); a reception whose long-polling clients
// were admitted by another learns it when their orders leave the shared line. The copy in
// memory then only feeds the estimates, reloaded from the shared line every second.

export interface WaitingRoomSettings {
  /** How long after its retry time a client may come back and keep its place. */
  readonly graceMs: number;
  /** Most clients in line; beyond, queue-full. 0: no line at all (a busy answer holds no place). */
  readonly maxLine: number;
  /** Longest a long-poll is held. */
  readonly maxPollMs: number;
  /** Longest a client is told to stay away, so estimates are refreshed. */
  readonly maxSleepMs: number;
  /** How often the admission pass runs while anyone waits. */
  readonly tickMs: number;
  /** Oldest replay of the line an estimate may come from. */
  readonly viewMaxAgeMs: number;
  /** How often lapsed places are looked for. */
  readonly expireEveryMs: number;
  /** How often the copy of the line is reloaded from the database while anyone waits (other receptions may change the line too). */
  readonly reloadEveryMs: number;
}

export const defaultWaitingRoomSettings: WaitingRoomSettings = {
  graceMs: 30_000,
  maxLine: 10_000,
  maxPollMs: 20_000,
  maxSleepMs: 60_000,
  tickMs: 200,
  viewMaxAgeMs: 250,
  expireEveryMs: 200,
  reloadEveryMs: 10_000,
};

export interface WaitInfo {
  readonly orderId: string;
  readonly contentId: string;
  readonly position: number;
  readonly lineLength: number;
  readonly estimatedWaitMs: number;
  /** position ÷ recent outflow, the usual estimate, for comparison; null before the outflow is known. */
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
  /** The line shared by every reception; used only when it crosses processes (Redis). */
  readonly sharedLine?: WaitingLine;
  /** This reception's name for the shared line's admission turn. */
  readonly receptionId?: string;
}

/**
 * Slot time per admission beyond the transfer until the reception has measured its own: the
 * admitted client fetching its ticket (a long-polling client does within tens of ms), plus half
 * a report interval for hearing of the release once a report says what the interval is.
 */
const PRIOR_OVERHEAD_MS = 50;
/** Orders read per page when the copy of the line is reloaded. */
const RELOAD_PAGE = 500;
/** A replay of the line is not made again sooner than this, however often the slots change. */
const VIEW_MIN_AGE_MS = 50;
/** A client missing from the copy has it reloaded, but not more often than this. */
const MIN_RELOAD_GAP_MS = 1000;
/** With a shared line, how often the copy (for estimates) is reloaded from it. */
const SHARED_RELOAD_EVERY_MS = 1000;
/**
 * How long the admission turn is held without renewal: longer than one admission (a notice may
 * wait 2 s for its answer), renewed before each. A reception that dies holding it delays the
 * line by at most this.
 */
const TURN_TTL_MS = 5000;

/** A replay of the line, carried on over the clients who joined after it was made. */
interface Forecast {
  readonly at: number;
  readonly replay: AdmissionReplay;
  readonly predictedAt: Map<string, number>;
  lastSeq: number;
}

export class WaitingRoom {
  readonly #d: WaitingRoomDeps;
  readonly #s: WaitingRoomSettings;
  readonly #admitted = new EventEmitter();
  readonly #history = new ServiceTimeHistory();
  readonly #overhead = new SlotOverhead({ overheadMs: PRIOR_OVERHEAD_MS, afterTransferMs: 0 });
  readonly #turnover = new SlotTurnover(this.#overhead);
  readonly #line = new LineCopy();
  /** Admissions from the line in the last OUTFLOW_WINDOW_MS, and the first since the line was last empty. */
  readonly #admissions: number[] = [];
  #outflowSince: number | undefined;
  readonly #contents = new Map<string, ContentRecord>();
  /** The report of each server last shown to the turnover tracker (by arrival time). */
  readonly #reportSeen = new Map<string, number>();
  #forecast: Forecast | undefined;
  /** When the slots last changed as the reception sees them: a report, a completion, an admission. */
  #slotsChangedAt = Number.NEGATIVE_INFINITY;
  #passRunning = false;
  #passAgain = false;
  #passesStarted = 0;
  #passWaiters: { readonly target: number; readonly resolve: () => void; readonly reject: (error: unknown) => void }[] = [];
  #lastExpiry = Number.NEGATIVE_INFINITY;
  #lastReload = Number.NEGATIVE_INFINITY;
  #reloading: Promise<void> | undefined;
  /** Settles once the places that lapsed during an outage are kept (see start). */
  #ready: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** The line shared with other receptions, when there is one (Redis). */
  readonly #shared: WaitingLine | undefined;
  readonly #receptionId: string;
  #rebuilding: Promise<void> | undefined;
  #polling = false;
  #unwatchLoss: (() => void) | undefined;

  constructor(deps: WaitingRoomDeps) {
    this.#d = deps;
    this.#s = { ...defaultWaitingRoomSettings, ...deps.settings };
    this.#admitted.setMaxListeners(0);
    this.#shared = deps.sharedLine?.capabilities.crossProcess ? deps.sharedLine : undefined;
    this.#receptionId = deps.receptionId ?? `reception-${process.pid}`;
  }

  start(): void {
    if (this.#shared) {
      this.#startShared();
      return;
    }
    this.#timer = setInterval(() => {
      const now = this.#d.clock.now();
      if (this.#line.length > 0 || !this.#line.loaded) {
        this.kick();
        if (now - this.#lastReload >= this.#s.reloadEveryMs) {
          this.#d.logger.debug({ slotOverhead: this.slotOverhead, lineLength: this.#line.length }, 'waiting line');
          void this.#reload();
        }
      }
    }, this.#s.tickMs);
    this.#timer.unref();
    // Orders that were waiting before a restart are still in the database. Their clients could
    // not come back while no reception ran: the places that lapsed meanwhile are kept for one
    // grace period from now. Then look at the line.
    this.#ready = this.#keepPlacesAfterOutage();
    void this.#ready.then(() => this.#reload());
    this.kick();
  }

  async #keepPlacesAfterOutage(): Promise<void> {
    const d = this.#d;
    const now = d.clock.now();
    try {
      const kept = await d.db.orders.keepPlacesAfterOutage(now + this.#s.graceMs, now);
      if (kept > 0) d.logger.info({ kept }, 'places that lapsed while no reception ran are kept');
    } catch (error) {
      d.logger.warn({ err: error }, 'could not keep the places that lapsed while no reception ran');
    }
  }

  #startShared(): void {
    const line = this.#shared as WaitingLine;
    this.#unwatchLoss = line.onLost(() => {
      this.#d.logger.warn('the shared waiting line was lost (its store restarted); rebuilding it from the database');
      void this.#rebuildShared();
    });
    this.#timer = setInterval(() => {
      const now = this.#d.clock.now();
      // Other receptions join the line too: the pass runs on every tick, and only the holder of
      // the admission turn does anything.
      this.kick();
      void this.#pollWaiters();
      if (now - this.#lastReload >= SHARED_RELOAD_EVERY_MS) void this.#reload();
    }, this.#s.tickMs);
    this.#timer.unref();
    this.#ready = this.#keepPlacesAfterOutage().then(() => this.#rebuildShared());
    void this.#ready.then(() => this.#reload());
    this.kick();
  }

  /**
   * Merges every queued order of the database into the shared line. One at a time. Their
   * return time in the line is the latest any of them can have (the database's own return
   * times decide who lapses: the pass expires them there and takes them out of the line).
   */
  #rebuildShared(): Promise<void> {
    this.#rebuilding ??= (async () => {
      const d = this.#d;
      const line = this.#shared as WaitingLine;
      try {
        const now = d.clock.now();
        const returnBy = now + Math.max(this.#s.maxSleepMs, this.#s.maxPollMs) + this.#s.graceMs;
        const places = await allPages((after) => d.db.orders.listQueuePlaces(now, after, RELOAD_PAGE));
        const entries: LineEntry[] = places.map((p) => ({ orderId: p.orderId, contentId: p.contentId, seq: p.queueSeq, returnBy }));
        await line.rebuild(entries);
        if (entries.length > 0) d.logger.info({ orders: entries.length }, 'shared waiting line rebuilt from the database');
      } catch (error) {
        d.logger.warn({ err: error }, 'could not rebuild the shared waiting line; retrying when it is next needed');
      } finally {
        this.#rebuilding = undefined;
      }
    })();
    return this.#rebuilding;
  }

  /** Runs `work` on the shared line; when the line was lost, rebuilds it and tries once more. */
  async #onLine<T>(work: (line: WaitingLine) => Promise<T>): Promise<T> {
    const line = this.#shared as WaitingLine;
    try {
      return await work(line);
    } catch (error) {
      if (!(error instanceof SharedStateLost)) throw error;
      await this.#rebuildShared();
      return work(line);
    }
  }

  /** Puts a queued order (back) in the shared line at its arrival number. Never throws: a failure is logged. */
  async #joinShared(order: OrderRecord, returnBy: number): Promise<void> {
    if (order.queueSeq === null) return;
    const entry: LineEntry = { orderId: order.id, contentId: order.contentId, seq: order.queueSeq, returnBy };
    try {
      await this.#onLine((l) => l.join(entry));
    } catch (error) {
      this.#d.logger.warn({ err: error, orderId: order.id }, 'could not put an order in the shared line; it joins at its next return or the next rebuild');
    }
  }

  /** A client came back: its place in the shared line holds until `returnBy`; rejoins it when it is missing. */
  async #touchShared(order: OrderRecord, returnBy: number, now: number): Promise<void> {
    let touched: boolean;
    try {
      touched = await this.#onLine((l) => l.touch(order.id, returnBy, now));
    } catch (error) {
      this.#d.logger.warn({ err: error, orderId: order.id }, 'could not renew a place in the shared line');
      return;
    }
    if (!touched) await this.#joinShared(order, returnBy);
  }

  /**
   * Long-polling clients of this reception whose orders another reception admitted: their
   * orders left the shared line, so wake them (they then read their order from the database).
   */
  async #pollWaiters(): Promise<void> {
    if (this.#polling) return;
    const ids = this.#admitted.eventNames().filter((n): n is string => typeof n === 'string');
    if (ids.length === 0) return;
    this.#polling = true;
    try {
      const line = this.#shared as WaitingLine;
      const now = this.#d.clock.now();
      // All at once: the Redis client sends them back to back on its one connection, so a
      // reception with many long-pollers waits one round trip per tick, not one per poller.
      const positions = await Promise.all(ids.map((id) => line.position(id, now).catch(() => 0)));
      ids.forEach((id, i) => {
        if (positions[i] === undefined) this.#admitted.emit(id);
      });
    } finally {
      this.#polling = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#unwatchLoss?.();
  }

  /** Slot time per admission beyond the transfer, and the part of it after the last byte, as measured so far (ms). */
  get slotOverhead(): { readonly overheadMs: number; readonly afterTransferMs: number; readonly samples: number } {
    return { overheadMs: this.#overhead.overheadMs, afterTransferMs: this.#overhead.afterTransferMs, samples: this.#overhead.samples };
  }

  /** A new order: admitted at once if nobody waits and a server takes it; otherwise in line. */
  async order(contentId: string, clientAddress: string | undefined): Promise<Outcome> {
    const d = this.#d;
    await this.#ready;
    const content = await this.#content(contentId);
    const order = await d.ordering.createOrder(content, clientAddress);
    // While the copy shows anyone in line, the order joins it without asking the database:
    // should they all have left meanwhile, the pass below admits it at once all the same.
    const waiting = this.#shared
      ? await unavailableOnFailure(() => this.#onLine((l) => l.length(d.clock.now())))
      : this.#line.loaded && this.#line.length > 0
        ? this.#line.length
        : await unavailableOnFailure(() => d.db.orders.countQueued(d.clock.now()));
    if (waiting === 0) {
      const admitNow = (): Promise<PlacedOrder | undefined> =>
        d.ordering.admit(order, content).catch((error: unknown) => {
          // Nobody else knows this order yet; only a sweep of an order stuck in `received` could move it.
          throw error instanceof OrderMovedOn ? new TesseraError('internal', error.message) : error;
        });
      let placed = await admitNow();
      if (!placed) {
        const warmingUp = d.ordering.warmingUp;
        if (!(await d.ordering.anyServerHolds(content.id))) {
          await d.ordering.reject(order.id, 'no-server-holds-content');
          throw new TesseraError('no-server-holds-content', undefined, { retryAfterS: 5 });
        }
        // Just started: the holder's first report may have arrived while we waited for it.
        if (warmingUp) placed = await admitNow();
      }
      if (placed) {
        this.#noteAdmitted(placed, false);
        return { kind: 'admitted', placed };
      }
    }
    if (this.#s.maxLine === 0) {
      // No line is kept: say so, and when a slot is next expected to free — without a place.
      await d.ordering.reject(order.id, 'all-servers-busy');
      const retryAfterS = this.#nextFreeSlotS();
      throw new TesseraError('all-servers-busy', `every content server is busy and this reception keeps no waiting line; try again in ${retryAfterS} s`, {
        retryAfterS,
        retry_at: new Date(d.clock.now() + retryAfterS * 1000).toISOString(),
      });
    }
    if (waiting >= this.#s.maxLine) {
      await d.ordering.reject(order.id, 'queue-full');
      // A place frees when the front of the line is admitted, that is when the next slot frees.
      throw new TesseraError('queue-full', `the line holds ${waiting} clients`, { retryAfterS: this.#nextFreeSlotS() });
    }
    const now = d.clock.now();
    const queued = await unavailableOnFailure(() => d.db.orders.markQueued(order.id, now + this.#s.graceMs, now));
    if (!queued || queued.queueSeq === null) throw new TesseraError('internal', 'the order changed state while joining the line');
    this.#line.add({ orderId: queued.id, seq: queued.queueSeq, size: content.size });
    if (this.#shared) await this.#joinShared(queued, queued.queueReturnBy ?? now + this.#s.graceMs);
    d.metrics.orders.inc({ outcome: 'queued' });
    // Only with a slot free can this order be admitted now (it is at the back of the line);
    // otherwise the answer need not wait for a pass another request started.
    if (this.#freeSlots() > 0) await this.#passForClient();
    else this.kick();
    // Still in the copy: still waiting (an admission or a lapse takes it out first). With a
    // shared line another reception may have admitted it: the database says.
    if (!this.#shared && this.#line.has(queued.id)) return { kind: 'waiting', wait: await this.#waitInfo(queued) };
    return this.#outcomeOf(queued.id, content);
  }

  /** A waiting client comes back with its queue token, optionally waiting up to `waitMs` for its turn. */
  async comeBack(contentId: string | undefined, token: string, waitMs: number): Promise<Outcome> {
    const d = this.#d;
    const claims = verifyQueueToken(token, d.queueKey);
    await this.#ready;
    if (contentId !== undefined && contentId !== claims.contentId) throw new TesseraError('queue-token-invalid', 'the token is for another item');
    const order = await unavailableOnFailure(() => d.db.orders.getOrder(claims.orderId));
    if (!order || order.queueSeq !== claims.seq || order.contentId !== claims.contentId) throw new TesseraError('queue-token-invalid');
    const content = await this.#content(order.contentId);
    if (order.state === 'queued') {
      const now = d.clock.now();
      const wait = Math.min(Math.max(0, waitMs), this.#s.maxPollMs);
      const touched = await unavailableOnFailure(() => d.db.orders.touchQueued(order.id, now + wait + this.#s.graceMs, now));
      if (!touched) {
        // Not touched: it lapsed (still queued, its return-by passed), or it left the line
        // between our read and this write, admitted by another reception's pass. Only the lapse
        // loses the place; an admission is answered with the ticket.
        const current = await unavailableOnFailure(() => d.db.orders.getOrder(order.id));
        if (!current || current.state === 'queued') throw new TesseraError('queue-place-lost');
        return this.#answerFor(current, content);
      }
      if (this.#shared) await this.#touchShared(order, now + wait + this.#s.graceMs, now);
      // Listen before the pass: it may admit this very order.
      const admitted = wait > 0 ? this.#waitForAdmission(order.id, wait) : Promise.resolve();
      await this.#passForClient();
      await admitted;
      return this.#outcomeOf(order.id, content);
    }
    // Not waiting: the order just read is the answer.
    return this.#answerFor(order, content);
  }

  /**
   * An admission pass a client's answer waits for. With a shared line a failed pass (Redis
   * away for a moment) does not fail the answer: the order is in line in the database, and the
   * client gets its place and token to come back with.
   */
  async #passForClient(): Promise<void> {
    if (!this.#shared) return this.#pass();
    await this.#pass().catch((error: unknown) => this.#d.logger.warn({ err: error }, 'admission pass failed; the client keeps its place'));
  }

  /** Capacity may have freed (a load report, a completion): run an admission pass soon. */
  kick(): void {
    this.#observeReports();
    void this.#pass().catch((error: unknown) => this.#d.logger.warn({ err: error }, 'admission pass failed; retrying on the next tick'));
  }

  /** A content server reported an order done: learn its service time, and let the line move. */
  noteCompletion(order: OrderRecord, endedAt: number, delivered: boolean): void {
    if (order.serverId !== null && order.ticketId !== null) this.#slotEnded(order.serverId, order.ticketId, delivered);
    if (delivered) this.#history.record(endedAt - order.updatedAt);
    this.kick();
  }

  /**
   * Tickets' slots ended, heard from completions that any reception may record (the control
   * channel's watchers): this reception may have sent their notices and still count the slots.
   * Hearing one twice, or of a ticket this reception never saw, changes nothing.
   */
  noteSlotsEnded(ended: readonly { readonly serverId: string; readonly ticketId: string; readonly delivered: boolean }[]): void {
    if (ended.length === 0) return;
    for (const e of ended) this.#slotEnded(e.serverId, e.ticketId, e.delivered);
    this.kick();
  }

  #slotEnded(serverId: string, ticketId: string, delivered: boolean): void {
    this.#d.servers.noteRelease(serverId, ticketId);
    this.#observeReports();
    this.#turnover.completed(ticketId, this.#d.clock.now(), delivered);
    this.#slotsChangedAt = this.#d.clock.now();
  }

  async #content(contentId: string): Promise<ContentRecord> {
    const known = this.#contents.get(contentId);
    if (known) return known;
    const content = await this.#d.ordering.content(contentId);
    this.#contents.set(content.id, content);
    return content;
  }

  /** An item's size for the replay; 0 (a slot time of the overhead alone) for an item no longer in the catalogue. */
  async #sizeOf(contentId: string): Promise<number> {
    try {
      return (await this.#content(contentId)).size;
    } catch (error) {
      if (error instanceof TesseraError && error.code === 'content-not-found') return 0;
      throw error;
    }
  }

  /** What a client is told about an order it holds a token for, read afresh. */
  async #outcomeOf(orderId: string, content: ContentRecord): Promise<Outcome> {
    const order = await unavailableOnFailure(() => this.#d.db.orders.getOrder(orderId));
    if (!order) throw new TesseraError('order-not-found');
    return this.#answerFor(order, content);
  }

  /** What a client is told about an order, as `order` shows it. */
  async #answerFor(order: OrderRecord, content: ContentRecord): Promise<Outcome> {
    switch (order.state) {
      case 'ticketed':
        return { kind: 'admitted', placed: this.#d.ordering.ticketOf(order, content) };
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
    let position = this.#shared ? await this.#sharedPosition(order, now) : this.#line.position(order.id);
    let predicted: number | undefined;
    if (this.#shared && position !== undefined) {
      // The copy may not have this order yet (it joined through another reception).
      if (this.#line.has(order.id)) predicted = this.#predictedAdmission(order.id, now);
      else if (now - this.#lastReload >= MIN_RELOAD_GAP_MS) void this.#reload();
    } else if (position === undefined) {
      // Not in the copy (it is still loading, or another reception queued the order): ask the
      // database, and have the copy reloaded.
      position = (await unavailableOnFailure(() => d.db.orders.queuePosition(order.id, now))) ?? 1;
      if (this.#line.loaded && now - this.#lastReload >= MIN_RELOAD_GAP_MS) void this.#reload();
    } else {
      predicted = this.#predictedAdmission(order.id, now);
    }
    const estimatedWaitMs = Math.round(predicted === undefined || !Number.isFinite(predicted) ? this.#fallbackWaitMs(position) : Math.max(0, predicted - now));
    // Come back early enough to be long-polling when the turn comes; never stay away so long
    // that the estimate goes stale. Those who could be next whenever any slot frees (as many as
    // there are slots) come straight back: a transfer can end much sooner than predicted.
    const nextUp = position <= d.servers.totalCapacity();
    const sleepMs = nextUp ? 0 : Math.round(Math.min(this.#s.maxSleepMs, Math.max(0, estimatedWaitMs - this.#s.maxPollMs / 2)));
    const retryAt = now + sleepMs;
    await unavailableOnFailure(() => d.db.orders.touchQueued(order.id, retryAt + this.#s.graceMs, now));
    if (this.#shared) await this.#touchShared(order, retryAt + this.#s.graceMs, now);
    const lineLength = this.#shared ? await this.#sharedLength(now) : this.#line.length;
    const outflow = this.#outflowSince === undefined ? undefined : recentOutflowPerS(this.#admissions, this.#outflowSince, now);
    return {
      orderId: order.id,
      contentId: order.contentId,
      position,
      lineLength: Math.max(lineLength, position),
      estimatedWaitMs,
      baselineWaitMs: outflow === undefined ? null : positionOverOutflowMs(position, outflow),
      retryAt,
      at: now,
      queueToken: signQueueToken({ orderId: order.id, contentId: order.contentId, seq: order.queueSeq ?? 0, issuedAt: now }, d.queueKey),
    };
  }

  /** The order's place in the shared line; put back at its arrival number when missing; the database's count when the line fails. */
  async #sharedPosition(order: OrderRecord, now: number): Promise<number | undefined> {
    const d = this.#d;
    try {
      let position = await this.#onLine((l) => l.position(order.id, now));
      if (position === undefined) {
        await this.#joinShared(order, order.queueReturnBy !== null && order.queueReturnBy > now ? order.queueReturnBy : now + this.#s.graceMs);
        position = await this.#onLine((l) => l.position(order.id, now));
      }
      if (position !== undefined) return position;
    } catch (error) {
      d.logger.warn({ err: error }, 'the shared line did not answer; the database counts the place');
    }
    return unavailableOnFailure(() => d.db.orders.queuePosition(order.id, now));
  }

  async #sharedLength(now: number): Promise<number> {
    try {
      return await this.#onLine((l) => l.length(now));
    } catch {
      return this.#line.length;
    }
  }

  /**
   * When the order is predicted to be admitted. The replay of the line is made again when the
   * slots changed since it was made (a report, a completion, an admission), at most every
   * VIEW_MIN_AGE_MS, and at least every viewMaxAgeMs; it is carried only as far down the line
   * as someone asked, and on over the clients who join the end of the line.
   */
  #predictedAdmission(orderId: string, now: number): number | undefined {
    let forecast = this.#forecast;
    const age = forecast === undefined ? Infinity : now - forecast.at;
    if (!forecast || age > this.#s.viewMaxAgeMs || (forecast.at < this.#slotsChangedAt && age >= VIEW_MIN_AGE_MS)) forecast = this.#newReplay(now);
    const seq = this.#line.seqOf(orderId);
    if (seq === undefined) return undefined;
    let predicted = forecast.predictedAt.get(orderId);
    // Joined behind where the replay had got to (orders can finish joining out of order): start again.
    if (predicted === undefined && seq <= forecast.lastSeq) forecast = this.#newReplay(now);
    if (predicted === undefined) {
      for (const place of this.#line.after(forecast.lastSeq)) {
        const at = forecast.replay.next(place);
        forecast.predictedAt.set(place.orderId, at);
        forecast.lastSeq = place.seq;
        if (place.orderId === orderId) {
          predicted = at;
          break;
        }
      }
    }
    return predicted;
  }

  #newReplay(now: number): Forecast {
    const d = this.#d;
    // Tessera places every item on every content server, so the whole pool serves the line.
    const slots = d.servers.slotForecasts(d.servers.liveServerIds(), this.#history, this.#overhead.overheadMs, this.#overhead.afterTransferMs);
    const replay = new AdmissionReplay(slots, now, this.#history, this.#overhead.overheadMs);
    this.#forecast = { at: now, replay, predictedAt: new Map(), lastSeq: Number.NEGATIVE_INFINITY };
    return this.#forecast;
  }

  #fallbackWaitMs(position: number): number {
    const mean = this.#history.meanServiceMs ?? 2000;
    const slots = Math.max(1, this.#d.servers.totalCapacity());
    return (position * (mean + this.#overhead.overheadMs)) / slots;
  }

  /** Whole seconds until a slot is predicted to free (at least 1, at most maxSleepMs): an honest Retry-After without a place. */
  #nextFreeSlotS(): number {
    const d = this.#d;
    const now = d.clock.now();
    const slots = d.servers.slotForecasts(d.servers.liveServerIds(), this.#history, this.#overhead.overheadMs, this.#overhead.afterTransferMs);
    const next = slots.reduce((min, s) => Math.min(min, s.freeAt), Number.POSITIVE_INFINITY);
    const maxS = Math.max(1, Math.floor(this.#s.maxSleepMs / 1000));
    if (!Number.isFinite(next)) return Math.min(maxS, 5);
    return Math.min(maxS, Math.max(1, Math.ceil((next - now) / 1000)));
  }

  /** Free slots on the servers that take new tickets, as the registry counts them (its own notices included). */
  #freeSlots(): number {
    const servers = this.#d.servers;
    let free = 0;
    for (const c of servers.candidates(servers.liveServerIds())) if (!c.draining) free += Math.max(0, c.capacity - c.slotsTaken);
    return free;
  }

  /** Shows the turnover tracker every load report that arrived since it last looked. */
  #observeReports(): void {
    for (const view of this.#d.servers.list()) {
      if (this.#reportSeen.get(view.serverId) === view.receivedAt) continue;
      this.#reportSeen.set(view.serverId, view.receivedAt);
      // Until something is measured: the reception hears of a freed slot with the next report,
      // on average half a report interval after it freed.
      const interval = view.report.intervalMs;
      if (this.#overhead.samples === 0 && interval !== undefined && interval > 0) {
        this.#overhead.setPriors({ overheadMs: PRIOR_OVERHEAD_MS + interval / 2, afterTransferMs: interval / 2 });
      }
      this.#slotsChangedAt = this.#d.clock.now();
      this.#turnover.report(view.serverId, view.report.slots, view.receivedAt);
    }
  }

  #noteAdmitted(placed: PlacedOrder, fromLine: boolean): void {
    const d = this.#d;
    const now = d.clock.now();
    this.#slotsChangedAt = now;
    if (placed.order.ticketId !== null) {
      const rate = d.servers.slotForecasts([placed.serverId], this.#history, 0)[0]?.perTransferRate ?? 0;
      this.#turnover.admitted({
        ticketId: placed.order.ticketId,
        serverId: placed.serverId,
        at: now,
        transferMs: serviceTimeMs(placed.content.size, rate, this.#history),
        fromLine,
      });
    }
    if (!fromLine) return;
    this.#admissions.push(now);
    this.#outflowSince ??= now;
    while (this.#admissions.length > 0 && (this.#admissions[0] ?? 0) <= now - OUTFLOW_WINDOW_MS) this.#admissions.shift();
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

  /**
   * An admission pass that starts after this call. One pass runs at a time; calls during a pass
   * ask for one more after it, and each caller waits for that one only, not for however many
   * more later callers ask for (in a burst they keep coming).
   */
  #pass(): Promise<void> {
    const target = this.#passesStarted + 1;
    const done = new Promise<void>((resolve, reject) => this.#passWaiters.push({ target, resolve, reject }));
    this.#passAgain = true;
    if (!this.#passRunning) {
      this.#passRunning = true;
      void this.#runPasses();
    }
    return done;
  }

  async #runPasses(): Promise<void> {
    while (this.#passAgain) {
      this.#passAgain = false;
      const n = ++this.#passesStarted;
      let failure: unknown;
      try {
        await this.#admitFromFront();
      } catch (error) {
        failure = error;
      }
      const waiting = this.#passWaiters;
      this.#passWaiters = [];
      for (const w of waiting) {
        if (w.target > n) this.#passWaiters.push(w);
        else if (failure === undefined) w.resolve();
        else w.reject(failure);
      }
    }
    this.#passRunning = false;
  }

  async #admitFromFront(): Promise<void> {
    if (this.#shared) return this.#admitFromSharedFront(this.#shared);
    const d = this.#d;
    await this.#ready;
    const now = d.clock.now();
    if (now - this.#lastExpiry >= this.#s.expireEveryMs) {
      this.#lastExpiry = now;
      for (const lapsed of await d.db.orders.expireLapsed(now, 1000)) {
        d.metrics.orders.inc({ outcome: 'left-the-line' });
        this.#line.remove(lapsed.id);
        this.#admitted.emit(lapsed.id);
      }
    }
    // Read only as much of the front as could be admitted now, and again while all of it was.
    while (this.#s.maxLine > 0) {
      const free = this.#freeSlots();
      if (free <= 0) break;
      const front = await d.db.orders.listQueued(d.clock.now(), Math.min(free, this.#s.maxLine));
      const first = front[0];
      if (first === undefined) break;
      // Whoever the copy still shows ahead of the database's front has left the line.
      if (first.queueSeq !== null) this.#line.removeBefore(first.queueSeq);
      let handled = 0;
      for (const order of front) {
        const content = await this.#content(order.contentId);
        let placed: PlacedOrder | undefined;
        try {
          placed = await d.ordering.admit(order, content);
        } catch (error) {
          if (!(error instanceof OrderMovedOn)) throw error;
          // Another reception on the same database admitted it first (or it lapsed): it is
          // no longer in line, and the next one may go in. Its client finds out on its return.
          this.#line.remove(order.id);
          this.#admitted.emit(order.id);
          handled++;
          continue;
        }
        // Strict arrival order: if the front cannot go in, nobody behind it does.
        if (!placed) break;
        handled++;
        this.#line.remove(order.id);
        this.#noteAdmitted(placed, true);
        d.metrics.admissionsFromLine.inc();
        this.#admitted.emit(order.id);
      }
      if (handled < front.length) break;
    }
    if (this.#line.loaded && this.#line.length === 0 && !this.#line.reloading) {
      this.#outflowSince = undefined;
      this.#turnover.lineEmpty();
    }
    d.metrics.lineLength.set(this.#line.length);
  }

  /**
   * The admission pass on the shared line, by the reception that holds the admission turn
   * (the others leave it to the holder). The database stays the record: lapses are found
   * there, and each front entry is checked against its order before it is admitted.
   */
  async #admitFromSharedFront(line: WaitingLine): Promise<void> {
    try {
      await this.#admitFromSharedFrontOnce(line);
    } catch (error) {
      if (error instanceof TesseraError || !isOutage(error)) throw error;
      // Redis (or the database) did not answer: "unavailable", not "internal".
      throw new TesseraError('unavailable', 'the waiting line is unavailable for a moment', { retryAfterS: 2 }, { cause: error });
    }
  }

  async #admitFromSharedFrontOnce(line: WaitingLine): Promise<void> {
    const d = this.#d;
    await this.#ready;
    const me = this.#receptionId;
    if (!(await line.takeTurn(me, TURN_TTL_MS))) return;
    try {
      const now = d.clock.now();
      const leave = async (orderId: string): Promise<void> => {
        this.#line.remove(orderId);
        await line.remove(orderId);
        this.#admitted.emit(orderId);
      };
      if (now - this.#lastExpiry >= this.#s.expireEveryMs) {
        this.#lastExpiry = now;
        for (const lapsed of await d.db.orders.expireLapsed(now, 1000)) {
          d.metrics.orders.inc({ outcome: 'left-the-line' });
          await leave(lapsed.id);
        }
        // Lapsed in the line but perhaps not in the database (a renewal that did not reach
        // the line): the database decides, and a place it still holds is put back.
        for (const stray of await this.#onLine((l) => l.removeLapsed(now, 1000))) {
          const order = await d.db.orders.getOrder(stray.orderId);
          if (order?.state === 'queued' && order.queueReturnBy !== null && order.queueReturnBy > now) await this.#joinShared(order, order.queueReturnBy);
          else {
            this.#line.remove(stray.orderId);
            this.#admitted.emit(stray.orderId);
          }
        }
      }
      while (this.#s.maxLine > 0) {
        const free = this.#freeSlots();
        if (free <= 0) break;
        // A long round must not outlive the turn: renew it, and stop if another took it.
        if (!(await line.takeTurn(me, TURN_TTL_MS))) break;
        const front = await this.#onLine((l) => l.front(d.clock.now(), Math.min(free, this.#s.maxLine)));
        if (front.length === 0) break;
        let handled = 0;
        let turnLost = false;
        for (const entry of front) {
          if (handled > 0 && !(await line.takeTurn(me, TURN_TTL_MS))) {
            turnLost = true;
            break;
          }
          const order = await d.db.orders.getOrder(entry.orderId);
          if (!order || order.state !== 'queued') {
            // Admitted or ended meanwhile (a rebuild can bring back such an entry).
            await leave(entry.orderId);
            handled++;
            continue;
          }
          const content = await this.#content(order.contentId);
          let placed: PlacedOrder | undefined;
          try {
            placed = await d.ordering.admit(order, content);
          } catch (error) {
            if (!(error instanceof OrderMovedOn)) throw error;
            await leave(order.id);
            handled++;
            continue;
          }
          // Strict arrival order: if the front cannot go in, nobody behind it does.
          if (!placed) break;
          handled++;
          this.#noteAdmitted(placed, true);
          d.metrics.admissionsFromLine.inc();
          await leave(order.id);
        }
        if (turnLost || handled < front.length) break;
      }
      const length = await this.#onLine((l) => l.length(d.clock.now()));
      if (length === 0) {
        this.#outflowSince = undefined;
        this.#turnover.lineEmpty();
      }
      d.metrics.lineLength.set(length);
    } finally {
      await line.endTurn(me).catch(() => undefined);
    }
  }

  /** Reads the line from the database (or the shared line) into the copy, page by page. One at a time. */
  #reload(): Promise<void> {
    this.#reloading ??= (async () => {
      const d = this.#d;
      this.#lastReload = d.clock.now();
      this.#line.beginReload();
      try {
        const found = await allPages(async (after) =>
          this.#shared
            ? (await this.#onLine((l) => l.after(after, d.clock.now(), RELOAD_PAGE))).map((e) => ({ orderId: e.orderId, contentId: e.contentId, queueSeq: e.seq }))
            : d.db.orders.listQueuePlaces(d.clock.now(), after, RELOAD_PAGE),
        );
        const places: LinePlace[] = [];
        for (const p of found) places.push({ orderId: p.orderId, seq: p.queueSeq, size: await this.#sizeOf(p.contentId) });
        this.#line.finishReload(places);
        d.metrics.lineLength.set(this.#line.length);
      } catch (error) {
        this.#line.abortReload();
        d.logger.warn({ err: error }, 'could not read the waiting line; retrying later');
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }
}

/** Every place of the line, read RELOAD_PAGE at a time in arrival order; `readPage` gives those after a queue number. */
async function allPages<T extends { readonly queueSeq: number }>(readPage: (after: number) => Promise<readonly T[]>): Promise<T[]> {
  const all: T[] = [];
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const page = await readPage(after);
    all.push(...page);
    const last = page[page.length - 1];
    if (last === undefined || page.length < RELOAD_PAGE) return all;
    after = last.queueSeq;
  }
}
