import { RangeSet } from '../../core/byte-ranges.js';
import type { Completion, Notice, SlotReport } from '../../core/control/messages.js';
import { ConsumedTickets } from './consumed-tickets.js';

// The content server's allocation state: which tickets it knows, which of them hold one of its
// `capacity` slots, what each has delivered, and which are used up. Pure and synchronous (time
// comes in as `now`, Unix ms), so the check-and-take of a slot is atomic in Node's one thread
// and the whole life cycle can be tested without a socket.
//
//   notice accepted                  → held      (slot taken)
//   held, first GET                  → active
//   active, last connection closes   → idle      (released idleReleaseMs later)
//   idle, every byte sent and acknowledged by the client's side → released at once
//                                                (releaseSent; the ticket waits for evidence)
//   held past holdUntil, idle past idleUntil → released (the ticket is kept: a later GET while
//                                                it is valid takes a slot again if one is free)
//   delivered ranges cover the item  → consumed  (slot released, Completion 'completed')
//   window closed, no connection open → ended    (slot released, Completion 'expired')
//
// Every way to take a slot has its release beside it: the hold deadline, the idle deadline,
// the ticket's expiry, and consumption.

export type SlotState = 'held' | 'active' | 'idle' | 'released';

/**
 * Bytes [start, end) flushed under a ticket but not yet known to have reached the client (see
 * delivery-evidence.ts). Mutable: `end` grows as a response flushes, `start` moves up when a
 * resume shows the client has a prefix.
 */
export interface TentativeRange {
  start: number;
  end: number;
}

export interface TicketRecord {
  readonly ticketId: string;
  readonly orderId: string;
  readonly contentId: string;
  /** Size of the content item: the ticket is consumed when `delivered` covers [0, size). */
  readonly size: number;
  /** False for tickets admitted without a notice (notice mode `optional`). */
  readonly noticed: boolean;
  /** The reception that sent the notice, when it said (Notice.issuedBy): its completion goes there. */
  readonly issuedBy?: string;
  readonly maxConnections: number;
  readonly holdUntil: number;
  /** Unix ms after which no request can pass verification (expiry + clock tolerance). */
  readonly closesAt: number;
  /** Bytes known to have been delivered: the ticket is consumed when they cover the item. */
  readonly delivered: RangeSet;
  /** Bytes flushed but not yet confirmed. */
  readonly tentative: Set<TentativeRange>;
  slot: SlotState;
  idleUntil: number;
  openTransfers: number;
  /** Bytes flushed under this ticket, overlaps included (for rates). */
  flushedBytes: number;
  /**
   * (time, flushedBytes) when load reports were built and when bytes started flowing, oldest
   * first: the reported rate is measured over the last RATE_WINDOW_MS or more of flow.
   */
  rateSamples: RateSample[];
  ended: boolean;
}

export interface RateSample {
  readonly at: number;
  readonly bytes: number;
}

/** A reported rate spans at least this much time when the flow has lasted that long. */
const RATE_WINDOW_MS = 1000;
/** Below this much flow a rate is not measured yet; the expected one is reported instead. */
const MIN_RATE_SPAN_MS = 100;

export type NoticeOutcome = 'accepted' | 'slots-full' | 'notice-conflict';
export type TransferOutcome = 'ok' | 'too-many-connections' | 'no-slot' | 'ended';

export interface SlotTableOptions {
  readonly serverId: string;
  readonly capacity: number;
  readonly clockToleranceMs: number;
  readonly idleReleaseMs: number;
  /**
   * After a window closes, how long a ticket with unconfirmed bytes waits for their evidence
   * before it ends as expired (DeliveryEvidence's confirmAfterMs).
   */
  readonly confirmGraceMs?: number;
  /** The per-ticket bandwidth limit, bytes/s (0 or absent: none): no reported rate exceeds it. */
  readonly transferRateBps?: number;
  /**
   * Told of every ticket used up or withdrawn here, after the local table holds it: the
   * write-through to a shared ledger (docs/scale-out.md). Must not throw.
   */
  readonly onConsumed?: (ticketId: string, forgetAt: number) => void;
}

export class SlotTable {
  readonly capacity: number;
  readonly #options: SlotTableOptions;
  readonly #records = new Map<string, TicketRecord>();
  #taken = 0;
  /** Used-up (and withdrawn) ticket IDs, until their window closes (consumed-tickets.ts). */
  readonly #consumed = new ConsumedTickets();
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(options: SlotTableOptions) {
    if (!(Number.isInteger(options.capacity) && options.capacity >= 1)) throw new TypeError('capacity must be a positive integer');
    this.#options = options;
    this.capacity = options.capacity;
  }

  get taken(): number {
    return this.#taken;
  }

  get consumedCount(): number {
    return this.#consumed.size;
  }

  get(ticketId: string): TicketRecord | undefined {
    return this.#records.get(ticketId);
  }

  records(): IterableIterator<TicketRecord> {
    return this.#records.values();
  }

  isConsumed(ticketId: string): boolean {
    return this.#consumed.has(ticketId);
  }

  /** The allocation check: takes a slot for the notice's ticket, or says why not. */
  offerNotice(notice: Notice, size: number): NoticeOutcome {
    if (this.#records.has(notice.ticketId) || this.#consumed.has(notice.ticketId)) return 'notice-conflict';
    if (this.#taken >= this.capacity) return 'slots-full';
    this.#taken++;
    const closesAt = notice.expiresAt + this.#options.clockToleranceMs;
    // A replacement ticket (its first server failed mid-download): the client already holds
    // the first heldBytes from the earlier ticket, so they count as delivered here, and the
    // ticket is used up once the rest has gone.
    const delivered = new RangeSet();
    const held = Math.min(size, notice.heldBytes ?? 0);
    if (held > 0) delivered.add({ start: 0, end: held });
    this.#records.set(notice.ticketId, {
      ticketId: notice.ticketId,
      orderId: notice.orderId,
      contentId: notice.contentId,
      size,
      noticed: true,
      ...(notice.issuedBy === undefined ? {} : { issuedBy: notice.issuedBy }),
      maxConnections: notice.maxConnections,
      holdUntil: Math.min(notice.holdUntil, closesAt),
      closesAt,
      delivered,
      tentative: new Set(),
      slot: 'held',
      idleUntil: 0,
      openTransfers: 0,
      flushedBytes: 0,
      rateSamples: [],
      ended: false,
    });
    return 'accepted';
  }

  /**
   * Withdraws a notice (the reception could not record the order): the slot is freed and the
   * ticket is refused from now on, as if used up. False when the ticket is unknown.
   */
  withdrawNotice(ticketId: string): boolean {
    const record = this.#records.get(ticketId);
    if (!record) return false;
    this.#end(record);
    this.#remember(ticketId, record.closesAt);
    return true;
  }

  /** A ticket with no notice, admitted in notice mode `optional`; takes a slot when one is free. */
  admitUnnoticed(
    ticket: { ticketId: string; orderId: string; contentId: string; expiresAtS: number; maxConnections: number },
    size: number,
  ): TicketRecord | undefined {
    if (this.#taken >= this.capacity) return undefined;
    this.#taken++;
    const closesAt = ticket.expiresAtS * 1000 + this.#options.clockToleranceMs;
    const record: TicketRecord = {
      ticketId: ticket.ticketId,
      orderId: ticket.orderId,
      contentId: ticket.contentId,
      size,
      noticed: false,
      maxConnections: ticket.maxConnections,
      holdUntil: closesAt,
      closesAt,
      delivered: new RangeSet(),
      tentative: new Set(),
      slot: 'held',
      idleUntil: 0,
      openTransfers: 0,
      flushedBytes: 0,
      rateSamples: [],
      ended: false,
    };
    this.#records.set(ticket.ticketId, record);
    return record;
  }

  /** A GET under the ticket is about to send bytes; `now` starts the rate measure when nothing flowed. */
  beginTransfer(record: TicketRecord, now?: number): TransferOutcome {
    // A request that waited (for an item to load) may find its ticket used up meanwhile.
    if (record.ended) return 'ended';
    if (record.openTransfers >= record.maxConnections) return 'too-many-connections';
    if (record.slot === 'released') {
      // The slot went (hold expired, or the client vanished) but the ticket is still valid.
      if (this.#taken >= this.capacity) return 'no-slot';
      this.#taken++;
    }
    if (record.openTransfers === 0 && now !== undefined) {
      // Bytes start flowing (again): the time before does not count towards the rate.
      record.rateSamples = [{ at: now, bytes: record.flushedBytes }];
    }
    record.slot = 'active';
    record.openTransfers++;
    return 'ok';
  }

  /** A response under the ticket has closed (finished or aborted). */
  endTransfer(record: TicketRecord, now: number): Completion | undefined {
    record.openTransfers--;
    if (record.ended || record.openTransfers > 0) return undefined;
    if (now >= record.closesAt) {
      if (this.#windowOver(record, now)) return this.#finish(record, 'expired', now);
      // No request can pass any more; only evidence for bytes already sent is awaited.
      this.#release(record);
      return undefined;
    }
    if (this.#options.idleReleaseMs === 0) {
      this.#release(record);
    } else {
      record.slot = 'idle';
      record.idleUntil = now + this.#options.idleReleaseMs;
    }
    return undefined;
  }

  /**
   * An idle ticket whose bytes have all been sent and acknowledged by the client's side gives up
   * its slot now rather than after the idle delay: nothing more is being sent for it. The ticket
   * itself stays as it is (consumed only on evidence of delivery, resumable while valid; a
   * resume takes a slot again). False when the ticket is not idle.
   */
  releaseSent(record: TicketRecord): boolean {
    if (record.ended || record.slot !== 'idle' || record.openTransfers > 0) return false;
    this.#release(record);
    return true;
  }

  /** `length` bytes were flushed under the ticket (for rates; delivery is counted apart). */
  recordFlushed(record: TicketRecord, length: number): void {
    record.flushedBytes += length;
  }

  /** Bytes [start, end) of the item reached the client under the ticket. */
  recordDelivered(record: TicketRecord, start: number, end: number, now: number): Completion | undefined {
    if (record.ended) return undefined;
    record.delivered.add({ start, end });
    return record.delivered.covers(record.size) ? this.#finish(record, 'completed', now) : undefined;
  }

  /** Starts a tentative range at `start` for a response about to flush bytes. */
  openTentative(record: TicketRecord, start: number): TentativeRange {
    const range: TentativeRange = { start, end: start };
    if (!record.ended) record.tentative.add(range);
    return range;
  }

  /** The client has the whole tentative range. */
  confirm(record: TicketRecord, range: TentativeRange, now: number): Completion | undefined {
    if (!record.tentative.delete(range) || range.end <= range.start) return undefined;
    return this.recordDelivered(record, range.start, range.end, now);
  }

  /**
   * The client asks to continue from `offset`: it has what it was sent before that offset.
   * Confirms, in every tentative range that `offset` falls in, the part below it.
   */
  confirmUpTo(record: TicketRecord, offset: number, now: number): Completion | undefined {
    for (const range of record.tentative) {
      if (range.start < offset && offset <= range.end) {
        const completion = this.recordDelivered(record, range.start, offset, now);
        range.start = offset;
        if (range.start >= range.end) record.tentative.delete(range);
        if (completion) return completion;
      }
    }
    return undefined;
  }

  /**
   * Sweeps only when every slot is taken (the one case where a lapsed hold changes the answer
   * to a notice), and at most once per `minGapMs`: a sweep walks every ticket, and notices can
   * come thousands per second.
   */
  sweepIfFull(now: number, minGapMs: number): Completion[] {
    if (this.#taken < this.capacity || now - this.#lastSweep < minGapMs) return [];
    return this.sweep(now);
  }

  /** Releases lapsed holds and idle slots, ends closed windows, forgets old consumed IDs. */
  sweep(now: number): Completion[] {
    this.#lastSweep = now;
    const completions: Completion[] = [];
    let nextDue = Number.POSITIVE_INFINITY;
    for (const record of this.#records.values()) {
      if (now >= record.closesAt && record.openTransfers === 0) {
        if (this.#windowOver(record, now)) completions.push(this.#finish(record, 'expired', now));
        else this.#release(record);
      } else if (record.slot === 'held' && now >= record.holdUntil) {
        this.#release(record);
      } else if (record.slot === 'idle' && now >= record.idleUntil) {
        this.#release(record);
      }
      if (!record.ended && record.slot !== 'released' && record.slot !== 'active') {
        nextDue = Math.min(nextDue, record.closesAt, record.slot === 'held' ? record.holdUntil : record.idleUntil);
      }
    }
    this.#nextSlotDueAt = nextDue;
    this.#consumed.forget(now);
    return completions;
  }

  /**
   * As of the last sweep, the earliest time a held or idle slot is due to be released (hold,
   * idle delay or window), or +Infinity: when to sweep next to see it at once.
   */
  get nextSlotDueAt(): number {
    return this.#nextSlotDueAt;
  }

  #nextSlotDueAt = Number.POSITIVE_INFINITY;

  /** The earliest time a held or idle slot is due to be released, if any is. */
  nextReleaseAt(): number | undefined {
    let earliest: number | undefined;
    for (const r of this.#records.values()) {
      const at = r.slot === 'held' ? r.holdUntil : r.slot === 'idle' ? r.idleUntil : undefined;
      if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
    }
    return earliest;
  }

  /**
   * One entry per ticket holding a slot, for the load report, as of `now`. At most `maxEntries`
   * (oldest tickets first), so a server with a huge capacity does not send megabytes every
   * interval; `taken` stays the exact count.
   *
   * The reception predicts that an active slot frees at now + remainingBytes ÷ bytesPerSecond,
   * so both say what is left to *send*: remainingBytes counts every byte already flushed
   * (confirmed or not) as sent, and bytesPerSecond is measured over at least the last second
   * of flow (a rate over the 50 ms between two quick reports would jump with every write).
   */
  slotReports(now: number, maxEntries = 1000): SlotReport[] {
    const reports: SlotReport[] = [];
    const cap = this.#options.transferRateBps ?? 0;
    for (const r of this.#records.values()) {
      if (r.slot === 'released') {
        r.rateSamples.length = 0;
        continue;
      }
      let rate = 0;
      if (r.slot === 'active') {
        const measured = this.#measureRate(r, now);
        if (measured !== undefined && cap === 0) this.#typicalRate = this.#typicalRate === 0 ? measured : 0.8 * this.#typicalRate + 0.2 * measured;
        // A transfer that has only just started has no rate yet, but it is flowing: report what
        // it is expected to get (the limit, or what transfers here have been getting), never 0,
        // which would tell the reception nothing about when the slot frees.
        rate = measured ?? (cap > 0 ? cap : Math.round(this.#typicalRate));
      }
      if (reports.length >= maxEntries) continue;
      reports.push({
        ticketId: r.ticketId,
        remainingBytes: Math.max(0, r.size - sentBytes(r)),
        bytesPerSecond: cap > 0 ? Math.min(cap, rate) : rate,
        releaseBy: r.slot === 'held' ? r.holdUntil : r.slot === 'idle' ? r.idleUntil : r.closesAt,
        state: r.slot,
      });
    }
    return reports;
  }

  /** Bytes/s over the last RATE_WINDOW_MS or more of flow; undefined while the flow is too short to tell. */
  #measureRate(r: TicketRecord, now: number): number | undefined {
    const samples = r.rateSamples;
    samples.push({ at: now, bytes: r.flushedBytes });
    // Keep the newest sample at least RATE_WINDOW_MS old, and everything after it.
    while (samples.length > 2 && (samples[1] as RateSample).at <= now - RATE_WINDOW_MS) samples.shift();
    const from = samples[0] as RateSample;
    if (now - from.at < MIN_RATE_SPAN_MS) return undefined;
    return Math.round(((r.flushedBytes - from.bytes) * 1000) / (now - from.at));
  }

  /** Smoothed rate of the transfers measured here (without a limit), for those not measured yet. */
  #typicalRate = 0;

  /** The window closed and no evidence for unconfirmed bytes can be expected any more. */
  #windowOver(record: TicketRecord, now: number): boolean {
    return now >= record.closesAt && (record.tentative.size === 0 || now >= record.closesAt + (this.#options.confirmGraceMs ?? 0));
  }

  #finish(record: TicketRecord, outcome: Completion['outcome'], now: number): Completion {
    this.#end(record);
    this.#remember(record.ticketId, record.closesAt);
    return {
      ticketId: record.ticketId,
      orderId: record.orderId,
      contentId: record.contentId,
      serverId: this.#options.serverId,
      outcome,
      bytesDelivered: record.delivered.bytes,
      at: now,
      ...(record.issuedBy === undefined ? {} : { issuedBy: record.issuedBy }),
    };
  }

  #end(record: TicketRecord): void {
    this.#release(record);
    record.ended = true;
    this.#records.delete(record.ticketId);
  }

  #release(record: TicketRecord): void {
    if (record.slot === 'released') return;
    record.slot = 'released';
    this.#taken--;
  }

  #remember(ticketId: string, forgetAt: number): void {
    this.#consumed.add(ticketId, forgetAt);
    this.#options.onConsumed?.(ticketId, forgetAt);
  }

  /** Every ticket held as used up, with its forget time: to refill a shared ledger after a loss. */
  consumedEntries(): { ticketId: string; forgetAt: number }[] {
    return this.#consumed.entries();
  }
}

/** Bytes of the item flushed under the ticket so far, confirmed or not, overlaps counted once. */
export function sentBytes(record: TicketRecord): number {
  if (record.tentative.size === 0) return record.delivered.bytes;
  const sent = new RangeSet();
  for (const range of record.delivered.toArray()) sent.add(range);
  for (const range of record.tentative) sent.add(range);
  return sent.bytes;
}
