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
const FIRST_SLOT_CHECK_MS = 50;
/** While its bytes are in flight, a ticket is looked at again after 1, 2, 4 ... 16 times this. */
const SLOT_CHECK_MS = 25;
/**
 * Reading /proc costs milliseconds on a host with a large connection table (unacked-bytes.ts),
 * so the slot checks read it at most once per this many times what a read costs: at most 1/50
 * of a core (on this host one read per ~250 ms), however many tickets go idle. Where a read is
 * cheap, SLOT_CHECK_MS rules.
 */
const READ_COST_FACTOR = 50;

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
   * once: kept until the next sweep, each would hold its ticket's record past a young-generation
   * GC and into the old one, a few hundred bytes of garbage per request.
   */
  readonly #due = new Set<Pending>();
  /** The unsettled responses of each ticket. */
  readonly #byRecord = new Map<TicketRecord, Set<Pending>>();
  /** Idle tickets whose slot may go once their bytes are acknowledged: when to look (performance.now()), tries so far. */
  readonly #slotChecks = new Map<TicketRecord, { dueAt: number; tries: number }>();
  #slotTimer: NodeJS.Timeout | undefined;
  #slotTimerAt = Number.POSITIVE_INFINITY;
  /** When the slot checks last read /proc (performance.now()), and what a read costs (ms, smoothed). */
  #lastSlotRead = Number.NEGATIVE_INFINITY;
  #readCostMs = 0;

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
    this.#armSlotTimer(dueAt);
  }

  /** Stops the slot checks (the server is stopping). */
  close(): void {
    clearTimeout(this.#slotTimer);
    this.#slotTimer = undefined;
    this.#slotTimerAt = Number.POSITIVE_INFINITY;
    this.#slotChecks.clear();
  }

  /** Runs the slot checks at `dueAt`, or as soon after it as the read budget allows. */
  #armSlotTimer(dueAt: number): void {
    const at = Math.max(dueAt, this.#lastSlotRead + Math.max(SLOT_CHECK_MS, READ_COST_FACTOR * this.#readCostMs));
    if (this.#slotTimer !== undefined && this.#slotTimerAt <= at) return;
    clearTimeout(this.#slotTimer);
    this.#slotTimerAt = at;
    this.#slotTimer = setTimeout(() => {
      this.#slotTimer = undefined;
      this.#slotTimerAt = Number.POSITIVE_INFINITY;
      this.#checkSlots();
    }, Math.max(0, at - performance.now()));
    this.#slotTimer.unref();
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
      const done = performance.now();
      this.#lastSlotRead = done;
      this.#readCostMs = this.#readCostMs === 0 ? done - now : 0.7 * this.#readCostMs + 0.3 * (done - now);
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
    if (this.#slotChecks.size > 0) this.#armSlotTimer(nextDue);
  }

  #acknowledged(record: TicketRecord, unacked: Map<string, number> | undefined): 'yes' | 'not-yet' | 'unknown' {
    let verdict: 'yes' | 'not-yet' = 'yes';
    for (const entry of this.#byRecord.get(record) ?? []) {
      // Without /proc nothing can be seen: as rules 3 and 4, count it as there.
      if (unacked === undefined) continue;
      const left = entry.key === undefined ? undefined : unacked.get(entry.key);
      if (left === 0) continue;
      if (left === undefined) {
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
        }
      }
    });
  }

  /** Looks at responses that have waited `confirmAfterMs` on open connections (rule 4). */
  sweep(now: number): void {
    const ready: Pending[] = [];
    for (const entry of this.#due) if (entry.dueAt <= now) ready.push(entry);
    if (ready.length === 0) return;
    const keys = new Set<string>();
    for (const entry of ready) if (entry.key !== undefined) keys.add(entry.key);
    const unacked = this.#unacked(keys);
    for (const entry of ready) {
      const left = unacked === undefined ? 0 : entry.key === undefined ? undefined : unacked.get(entry.key);
      if (left === 0) {
        this.#takeFromSocket(entry);
        this.#confirm(entry, entry.range.end);
      } else if (left === undefined && entry.closedInOrder === true) {
        // Gone from the kernel's tables after an orderly close: the peer acknowledged our FIN,
        // which TCP sequences after every data byte, so every byte was acknowledged.
        this.#takeFromSocket(entry);
        this.#confirm(entry, entry.range.end);
      } else if (left === undefined && entry.socket.destroyed) {
        // Closed and gone from the kernel's tables without showing all bytes acknowledged
        // (reset): only a resume can confirm it.
        this.#settle(entry);
      } else {
        // Still in flight (a slow client), or not found: look again later.
        entry.dueAt = now + Math.max(this.#options.confirmAfterMs, 250);
      }
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
    const key = (entries[0] as Pending).key;
    const unacked = this.#unacked(key === undefined ? new Set() : new Set([key]));
    // Not in the kernel's tables any more: the connection finished closing in order (a reset
    // never reaches here: it emits no 'end'), and the peer's ACK of our FIN, sequenced after
    // every data byte, means nothing is unacknowledged. On loopback that takes microseconds.
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
