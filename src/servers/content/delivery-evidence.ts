import type { Socket } from 'node:net';
import { RangeSet } from '../../core/byte-ranges.js';
import type { Completion } from '../../core/control/messages.js';
import type { SlotTable, TentativeRange, TicketRecord } from './slot-table.js';
import { connectionKey, readUnackedBytes, unackedBytesAvailable } from './unacked-bytes.js';

// When do bytes written to a socket count as delivered? A write callback only says the kernel
// took them; on Linux the send and receive buffers of one connection can hold tens of MB, so a
// client that vanishes may never read what was "flushed", and a ticket consumed on that basis
// could not be resumed (curl -C - would get 410). So the bytes a response flushed stay
// tentative until the client shows it has them:
//
//   1. it sends its next request on the same connection: it read the whole response;
//   2. it resumes under the same ticket from an offset inside the range: it has what lies
//      before that offset (SlotTable.confirmUpTo, called by the request handler);
//   3. it closes the connection (FIN): everything the peer's kernel acknowledged was read
//      (a client that closes with unread data sends a reset instead), so the response counts
//      up to what is still unacknowledged (unacked-bytes.ts);
//   4. the connection stays open: every `confirmAfterMs` the unacknowledged bytes are looked
//      at, and once none are left the response counts.
//   A reset counts nothing; only 2 can then confirm.
//
// Without /proc/net/tcp (not Linux) 3 and 4 cannot see unacknowledged bytes and count the
// whole response: a client that vanishes with data in flight may then find its ticket used up.
//
// The *slot* is another matter. A client that keeps its connection open (fetch, browsers, any
// keep-alive agent) shows nothing for `confirmAfterMs`, and its slot would sit idle all that
// while, with the line at the reception waiting for it. So when the last connection of a ticket
// closes its response and everything of the item has been sent (delivered ∪ complete responses
// awaiting evidence), the connections are looked at FIRST_SLOT_CHECK_MS later, then again while
// bytes are in flight (backing off, and within a CPU budget for /proc): once the client's side
// has acknowledged every byte, nothing more is being sent for the ticket and its
// slot is released (SlotTable.releaseSent). Consumption still waits for the evidence above, so
// a client that vanishes now can still resume (taking a slot again if one is free).

/**
 * An idle ticket's connections are first looked at this long after it went idle: past Linux's
 * 40-ms delayed ACK, so one look usually settles it, and a client that keeps requesting has
 * shown by then that it read the answer (rule 1) and costs no look at all.
 */
const FIRST_SLOT_CHECK_MS = 40;
/** While its bytes are in flight, a ticket is looked at again after 1, 2, 4 ... 16 times this. */
const SLOT_CHECK_MS = 25;
/**
 * Reading /proc costs milliseconds on a host with a large connection table (unacked-bytes.ts),
 * and under load a ticket goes idle every few microseconds, so the slot checks spend at most
 * this share of the time reading it: a budget that fills at READ_SHARE of the clock, holds up
 * to READ_BURST_MS, and pays what each read took. A look now and then (at light load) is never
 * delayed; under load, reads are spaced so that they take at most 5 % of a core (on this
 * host a read costs 2 ms with an empty table, 10 ms with 4,000 sockets open on the machine).
 */
const READ_SHARE = 0.05;
const READ_BURST_MS = 50;
/**
 * A connection this side closed in order (`Connection: close`: curl, `tessera get`, Node with
 * `agent: false`) is looked at this long after it closed: by then the client's kernel has
 * answered our FIN (it acknowledges a FIN at once, no delayed ACK), and closes in the same
 * moment share one read. Waiting for the next regular sweep instead left the slot idle for
 * 125 ms on average (a sweep every 250 ms): 13 % of all slot time in the flash-crowd benchmark.
 */
const CLOSE_CHECK_MS = 2;

interface Pending {
  readonly socket: Socket;
  /** connectionKey of the socket, taken while it is open (a closed socket forgets its peer). */
  readonly key: string | undefined;
  readonly record: TicketRecord;
  readonly range: TentativeRange;
  dueAt: number;
  settled: boolean;
  /** The connection closed in order (FIN both ways, no reset). */
  closedInOrder?: boolean;
  /** Looks taken since this side closed the connection. */
  closedLooks?: number;
  /** Closed by this side and gone from /proc at a look right after: decided by the sweep. */
  goneAfterClose?: boolean;
}

export interface DeliveryEvidenceOptions {
  readonly slots: SlotTable;
  readonly clock: { now(): number };
  readonly ended: (completion: Completion) => void;
  readonly confirmAfterMs: number;
  /** An idle ticket's slot was released because the client's side has every byte (see above). */
  readonly slotReleased?: (record: TicketRecord) => void;
  /** Unacknowledged bytes per connection key; injectable for tests. */
  readonly unacked?: (keys: ReadonlySet<string>) => Map<string, number> | undefined;
}

export class DeliveryEvidence {
  readonly #options: DeliveryEvidenceOptions;
  readonly #bySocket = new WeakMap<Socket, Pending[]>();
  /**
   * Responses waiting for evidence, for sweep() to look at when due. A settled one leaves at
   * once, so it does not hold its ticket's record (and the sweep does not walk it) for up to a
   * sweep interval after the ticket ended.
   */
  readonly #due = new Set<Pending>();
  /** The unsettled responses of each ticket. */
  readonly #byRecord = new Map<TicketRecord, Set<Pending>>();
  /** Idle tickets whose slot may go once their bytes are acknowledged: when to look (performance.now()), tries so far. */
  readonly #slotChecks = new Map<TicketRecord, { dueAt: number; tries: number }>();
  readonly #slotTimer = new EarliestTimer(() => this.#checkSlots());
  /** Responses on connections this side closed in order, to be looked at soon (#checkClosed). */
  readonly #closed = new Set<Pending>();
  readonly #closedTimer = new EarliestTimer(() => this.#checkClosed());
  /** The slot checks' budget for reading /proc (ms of reading), as of #budgetAt (performance.now()). */
  #readBudgetMs = READ_BURST_MS;
  #budgetAt = performance.now();

  constructor(options: DeliveryEvidenceOptions) {
    this.#options = options;
  }

  /** A request arrived on `socket`: whatever it was sent before has been read (rule 1). */
  requestArrived(socket: Socket): void {
    const pending = this.#bySocket.get(socket);
    if (pending === undefined || pending.length === 0) return;
    for (const entry of pending.splice(0)) this.#confirm(entry, entry.range.end);
  }

  /** A response under `record` was completely flushed on `socket`. */
  responseComplete(socket: Socket, record: TicketRecord, range: TentativeRange): void {
    let pending = this.#bySocket.get(socket);
    if (pending === undefined) {
      pending = [];
      this.#bySocket.set(socket, pending);
      this.#watch(socket, pending);
    }
    const entry: Pending = {
      socket,
      // One key per connection, computed once: a closed socket forgets its peer.
      key: this.#keys.get(socket),
      record,
      range,
      dueAt: this.#options.clock.now() + this.#options.confirmAfterMs,
      settled: false,
    };
    this.#due.add(entry);
    pending.push(entry);
    let ofRecord = this.#byRecord.get(record);
    if (ofRecord === undefined) this.#byRecord.set(record, (ofRecord = new Set()));
    ofRecord.add(entry);
  }

  /**
   * The last connection of `record` closed its response and the slot went idle. If everything
   * of the item has been sent, release the slot once the client's side has acknowledged it.
   */
  transferIdle(record: TicketRecord): void {
    if (record.ended || record.slot !== 'idle' || !this.#wholeSent(record)) return;
    const dueAt = performance.now() + FIRST_SLOT_CHECK_MS;
    this.#slotChecks.set(record, { dueAt, tries: 0 });
    this.#slotTimer.arm(this.#readableAt(dueAt));
  }

  /** Stops the slot checks (the server is stopping). */
  close(): void {
    this.#slotTimer.cancel();
    this.#slotChecks.clear();
    this.#closedTimer.cancel();
    this.#closed.clear();
  }

  /** The read budget as of `now`. */
  #budget(now: number): number {
    this.#readBudgetMs = Math.min(READ_BURST_MS, this.#readBudgetMs + (now - this.#budgetAt) * READ_SHARE);
    this.#budgetAt = now;
    return this.#readBudgetMs;
  }

  /** `dueAt`, or the first moment after it at which the read budget allows a read. */
  #readableAt(dueAt: number): number {
    const now = performance.now();
    const budget = this.#budget(now);
    return Math.max(dueAt, budget >= 0 ? now : now - budget / READ_SHARE);
  }

  /** Pays for a read of /proc that started at `startedAt` (performance.now()). */
  #paid(startedAt: number): void {
    const done = performance.now();
    this.#budget(done);
    this.#readBudgetMs -= done - startedAt;
  }


  /** delivered ∪ the ranges of complete responses still awaiting evidence covers the item. */
  #wholeSent(record: TicketRecord): boolean {
    const pending = this.#byRecord.get(record);
    // The common case, a whole-item response, without building a RangeSet.
    if (pending !== undefined) for (const entry of pending) if (entry.range.start <= 0 && entry.range.end >= record.size) return true;
    const sent = new RangeSet();
    for (const range of record.delivered.toArray()) sent.add(range);
    for (const entry of pending ?? []) sent.add(entry.range);
    return sent.covers(record.size);
  }

  #checkSlots(): void {
    const now = performance.now();
    const due: TicketRecord[] = [];
    let nextDue = Number.POSITIVE_INFINITY;
    for (const [record, check] of this.#slotChecks) {
      if (record.ended || record.slot !== 'idle' || !this.#wholeSent(record)) this.#slotChecks.delete(record);
      else if (check.dueAt <= now) due.push(record);
      else nextDue = Math.min(nextDue, check.dueAt);
    }
    if (due.length > 0) {
      const keys = new Set<string>();
      for (const record of due) for (const entry of this.#byRecord.get(record) ?? []) if (entry.key !== undefined) keys.add(entry.key);
      const unacked = this.#unacked(keys);
      this.#paid(now);
      for (const record of due) {
        const verdict = this.#acknowledged(record, unacked);
        if (verdict === 'yes') {
          this.#slotChecks.delete(record);
          if (this.#options.slots.releaseSent(record)) this.#options.slotReleased?.(record);
        } else if (verdict === 'unknown') {
          // A reset, or a connection we cannot find: leave the slot to the idle delay.
          this.#slotChecks.delete(record);
        } else {
          // Still in flight (a slow client, or a delayed ACK, up to 40 ms on Linux): look again
          // after 1, 2, 4 ... 16 × SLOT_CHECK_MS.
          const check = this.#slotChecks.get(record);
          if (check) {
            check.dueAt = now + Math.min(16, 2 ** check.tries++) * SLOT_CHECK_MS;
            nextDue = Math.min(nextDue, check.dueAt);
          }
        }
      }
    }
    if (this.#slotChecks.size > 0) this.#slotTimer.arm(this.#readableAt(nextDue));
  }

  #acknowledged(record: TicketRecord, unacked: Map<string, number> | undefined): 'yes' | 'not-yet' | 'unknown' {
    let verdict: 'yes' | 'not-yet' = 'yes';
    for (const entry of this.#byRecord.get(record) ?? []) {
      // Without /proc nothing can be seen: as rules 3 and 4, count it as there.
      if (unacked === undefined) continue;
      const left = entry.key === undefined ? undefined : unacked.get(entry.key);
      if (left === 0) continue;
      if (left === undefined) {
        // Gone after a close by this side: nothing more is being sent, whatever it was (#judge).
        if (entry.closedInOrder === true) continue;
        if (entry.key === undefined || entry.socket.destroyed) return 'unknown';
        verdict = 'not-yet';
      } else {
        verdict = 'not-yet';
      }
    }
    return verdict;
  }

  readonly #keys = new WeakMap<Socket, string | undefined>();

  #watch(socket: Socket, list: Pending[]): void {
    this.#keys.set(socket, connectionKey(socket));
    socket.once('end', () => this.#clientClosed(list));
    socket.once('close', (hadError: boolean) => {
      const left = list.splice(0);
      if (hadError) {
        // A reset: only a resume can confirm these.
        for (const e of left) this.#settle(e);
      } else {
        // Closed by this side (Connection: close, idle timeout): the kernel still sends and
        // tracks what is unacknowledged; look at it on the next sweep.
        const now = this.#options.clock.now();
        for (const e of left) {
          e.closedInOrder = true;
          e.dueAt = Math.min(e.dueAt, now);
          this.#closed.add(e);
        }
        if (left.length > 0) this.#closedTimer.arm(this.#readableAt(performance.now() + CLOSE_CHECK_MS));
      }
    });
  }


  /**
   * Looks at the connections this side closed in order since the last look, in one read: what
   * the client's side has acknowledged counts (rule 3), which ends the ticket and frees its
   * slot. A client still receiving (a slow reader) is looked at again by the regular sweep.
   */
  #checkClosed(): void {
    const ready = [...this.#closed];
    this.#closed.clear();
    const open = ready.filter((entry) => !entry.settled);
    if (open.length === 0) return;
    const keys = new Set<string>();
    for (const entry of open) if (entry.key !== undefined) keys.add(entry.key);
    const startedAt = performance.now();
    const unacked = this.#unacked(keys);
    this.#paid(startedAt);
    let again = Number.POSITIVE_INFINITY;
    for (const entry of open) {
      this.#judge(entry, unacked, this.#options.clock.now(), true);
      if (entry.settled || entry.goneAfterClose === true) continue;
      // Bytes (or our FIN, which takes a sequence number of its own) not acknowledged yet:
      // look again after 1, 2, 4 ... 16 × SLOT_CHECK_MS, as for an idle slot; the regular
      // sweep still looks at it every `confirmAfterMs` after that.
      const looks = entry.closedLooks ?? 0;
      if (looks >= 5) continue;
      entry.closedLooks = looks + 1;
      this.#closed.add(entry);
      again = Math.min(again, performance.now() + 2 ** looks * SLOT_CHECK_MS);
    }
    if (Number.isFinite(again)) this.#closedTimer.arm(this.#readableAt(again));
  }

  /** Looks at responses that have waited `confirmAfterMs` on open connections (rule 4). */
  sweep(now: number): void {
    const ready: Pending[] = [];
    for (const entry of this.#due) if (entry.dueAt <= now) ready.push(entry);
    if (ready.length === 0) return;
    const keys = new Set<string>();
    for (const entry of ready) if (entry.key !== undefined) keys.add(entry.key);
    const unacked = this.#unacked(keys);
    for (const entry of ready) this.#judge(entry, unacked, now);
  }

  /**
   * Confirms, settles or reschedules one response by what /proc says of its connection.
   * `early`: a look right after this side closed it (#checkClosed), not the regular sweep.
   */
  #judge(entry: Pending, unacked: Map<string, number> | undefined, now: number, early = false): void {
    const left = unacked === undefined ? 0 : entry.key === undefined ? undefined : unacked.get(entry.key);
    if (left === 0) {
      this.#takeFromSocket(entry);
      this.#confirm(entry, entry.range.end);
    } else if (left === undefined && entry.closedInOrder === true) {
      // Closed by this side and gone from the kernel's tables. Either the client closed at the
      // same moment and the kernel saw it first (then this side closed passively: no TIME_WAIT,
      // every byte acknowledged), or the client reset the connection with bytes unread (curl
      // killed mid-download). /proc cannot tell the two apart. Nothing more is being sent
      // either way, so the slot frees now; the response counts only after `confirmAfterMs`
      // (the same wait as on an open connection), which leaves a client that reset the time to
      // resume with Range and keep its ticket, and still uses a delivered ticket up (R8).
      if (early) {
        entry.goneAfterClose = true;
        entry.dueAt = now + this.#options.confirmAfterMs;
        if (this.#options.slots.releaseSent(entry.record)) this.#options.slotReleased?.(entry.record);
      } else {
        this.#takeFromSocket(entry);
        this.#confirm(entry, entry.range.end);
      }
    } else if (left === undefined && entry.socket.destroyed) {
      // Closed by the client and gone without showing all bytes acknowledged: a reset, and
      // only a resume can confirm it.
      this.#settle(entry);
    } else {
      // Still in flight (a slow client), or not found: look again later.
      entry.dueAt = now + Math.max(this.#options.confirmAfterMs, 250);
    }
  }

  /**
   * The client closed its side (FIN). Its connection is looked at now, one read of /proc per
   * close: Node's HTTP server answers the FIN with its own within this same turn of the event
   * loop, and once our FIN is acknowledged the connection leaves the kernel's tables, where a
   * later look could no longer tell an orderly close from a reset by a client that closed with
   * bytes still in flight. (Measured: a setImmediate after 'end' already finds it gone.)
   */
  #clientClosed(list: Pending[]): void {
    const entries = list.splice(0);
    if (entries.length === 0) return;
    const first = entries[0] as Pending;
    const key = first.key;
    const unacked = this.#unacked(key === undefined ? new Set() : new Set([key]));
    if (unacked !== undefined && key !== undefined && !unacked.has(key)) {
      // Not in the kernel's tables any more. Either it finished closing in order (the peer's
      // ACK of our FIN, sequenced after every data byte: on loopback that takes microseconds),
      // or the client sent its FIN and then a reset, because bytes reached it after it closed
      // (a download aborted while its buffer happened to be empty). Node tells the two apart a
      // moment later: our own FIN, written after the reset, fails, and 'close' reports an error.
      const decide = (hadError: boolean): void => {
        for (const entry of entries) {
          if (hadError) this.#settle(entry);
          else this.#confirm(entry, entry.range.end);
        }
      };
      if (first.socket.closed) decide(first.socket.errored !== null);
      else first.socket.once('close', decide);
      return;
    }
    let left = unacked === undefined ? 0 : key === undefined ? Number.POSITIVE_INFINITY : (unacked.get(key) ?? 0);
    // The unacknowledged bytes are the last ones written: walk back from the newest response.
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as Pending;
      const length = entry.range.end - entry.range.start;
      if (left >= length) {
        left -= length;
        this.#settle(entry);
      } else {
        this.#confirm(entry, entry.range.end - left);
        left = 0;
      }
    }
  }

  #settle(entry: Pending): void {
    entry.settled = true;
    this.#due.delete(entry);
    this.#closed.delete(entry);
    const ofRecord = this.#byRecord.get(entry.record);
    if (ofRecord?.delete(entry) && ofRecord.size === 0) this.#byRecord.delete(entry.record);
  }

  #unacked(keys: ReadonlySet<string>): Map<string, number> | undefined {
    if (this.#options.unacked) return this.#options.unacked(keys);
    return unackedBytesAvailable ? readUnackedBytes(keys) : undefined;
  }

  #takeFromSocket(entry: Pending): void {
    const list = this.#bySocket.get(entry.socket);
    const index = list?.indexOf(entry) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
  }

  /** Confirms the entry's range up to `until`. */
  #confirm(entry: Pending, until: number): void {
    if (entry.settled) return;
    this.#settle(entry);
    const now = this.#options.clock.now();
    const completion =
      until >= entry.range.end
        ? this.#options.slots.confirm(entry.record, entry.range, now)
        : this.#options.slots.confirmUpTo(entry.record, until, now);
    if (completion) {
      this.#slotChecks.delete(entry.record);
      this.#options.ended(completion);
    }
  }
}

/** One unref'd timer that runs `run` at the earliest time it was armed for (performance.now()). */
class EarliestTimer {
  readonly #run: () => void;
  #timer: NodeJS.Timeout | undefined;
  #at = Number.POSITIVE_INFINITY;

  constructor(run: () => void) {
    this.#run = run;
  }

  arm(at: number): void {
    if (this.#timer !== undefined && this.#at <= at) return;
    clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#at = Number.POSITIVE_INFINITY;
      this.#run();
    }, Math.max(0, at - performance.now()));
    this.#timer.unref();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
  }
}
