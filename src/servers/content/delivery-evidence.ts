import type { Socket } from 'node:net';
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

interface Pending {
  readonly socket: Socket;
  /** connectionKey of the socket, taken while it is open (a closed socket forgets its peer). */
  readonly key: string | undefined;
  readonly record: TicketRecord;
  readonly range: TentativeRange;
  dueAt: number;
  settled: boolean;
}

export interface DeliveryEvidenceOptions {
  readonly slots: SlotTable;
  readonly clock: { now(): number };
  readonly ended: (completion: Completion) => void;
  readonly confirmAfterMs: number;
  /** Unacknowledged bytes per connection key; injectable for tests. */
  readonly unacked?: (keys: ReadonlySet<string>) => Map<string, number> | undefined;
}

export class DeliveryEvidence {
  readonly #options: DeliveryEvidenceOptions;
  readonly #bySocket = new WeakMap<Socket, Pending[]>();
  /** Responses waiting for evidence; sweep() looks at those due and drops the settled. */
  #due: Pending[] = [];

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
    this.#due.push(entry);
    pending.push(entry);
  }

  readonly #keys = new WeakMap<Socket, string | undefined>();

  #watch(socket: Socket, list: Pending[]): void {
    this.#keys.set(socket, connectionKey(socket));
    socket.once('end', () => this.#clientClosed(list));
    socket.once('close', (hadError: boolean) => {
      const left = list.splice(0);
      if (hadError) {
        // A reset: only a resume can confirm these.
        for (const e of left) e.settled = true;
      } else {
        // Closed by this side (Connection: close, idle timeout): the kernel still sends and
        // tracks what is unacknowledged; look at it on the next sweep.
        const now = this.#options.clock.now();
        for (const e of left) e.dueAt = Math.min(e.dueAt, now);
      }
    });
  }

  /** Looks at responses that have waited `confirmAfterMs` on open connections (rule 4). */
  sweep(now: number): void {
    const ready: Pending[] = [];
    const waiting: Pending[] = [];
    for (const entry of this.#due) {
      if (entry.settled) continue;
      (entry.dueAt <= now ? ready : waiting).push(entry);
    }
    if (ready.length === 0) {
      this.#due = waiting;
      return;
    }
    const keys = new Set<string>();
    for (const entry of ready) if (entry.key !== undefined) keys.add(entry.key);
    const unacked = this.#unacked(keys);
    for (const entry of ready) {
      const left = unacked === undefined ? 0 : entry.key === undefined ? undefined : unacked.get(entry.key);
      if (left === 0) {
        this.#takeFromSocket(entry);
        this.#confirm(entry, entry.range.end);
      } else if (left === undefined && entry.socket.destroyed) {
        // Closed and gone from the kernel's tables without showing all bytes acknowledged
        // (reset): only a resume can confirm it.
        entry.settled = true;
      } else {
        // Still in flight (a slow client), or not found: look again later.
        entry.dueAt = now + Math.max(this.#options.confirmAfterMs, 250);
        waiting.push(entry);
      }
    }
    this.#due = waiting;
  }

  #clientClosed(list: Pending[]): void {
    const entries = list.splice(0);
    if (entries.length === 0) return;
    const key = (entries[0] as Pending).key;
    const unacked = this.#unacked(key === undefined ? new Set() : new Set([key]));
    let left = unacked === undefined ? 0 : key === undefined ? Number.POSITIVE_INFINITY : (unacked.get(key) ?? Number.POSITIVE_INFINITY);
    // The unacknowledged bytes are the last ones written: walk back from the newest response.
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as Pending;
      const length = entry.range.end - entry.range.start;
      if (left >= length) {
        left -= length;
        entry.settled = true;
      } else {
        this.#confirm(entry, entry.range.end - left);
        left = 0;
      }
    }
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
    entry.settled = true;
    const now = this.#options.clock.now();
    const completion =
      until >= entry.range.end
        ? this.#options.slots.confirm(entry.record, entry.range, now)
        : this.#options.slots.confirmUpTo(entry.record, until, now);
    if (completion) this.#options.ended(completion);
  }
}
