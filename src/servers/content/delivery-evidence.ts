import type { Socket } from 'node:net';
import type { Completion } from '../../core/control/messages.js';
import type { SlotTable, TentativeRange, TicketRecord } from './slot-table.js';

// When do bytes written to a socket count as delivered? A write callback only says the kernel
// took them; on Linux the send and receive buffers of one connection can hold tens of MB, so a
// client that vanishes may never read what was "flushed", and a ticket consumed on that basis
// could not be resumed (curl -C - would get 410). So bytes a response flushed stay tentative
// until the client shows it has them:
//
//   1. it sends its next request on the same connection (it read the whole response);
//   2. it closes the connection normally (FIN) after the response was complete;
//   3. it resumes under the same ticket from an offset inside the range (it has what lies
//      before that offset: SlotTable.confirmUpTo, called by the request handler);
//   4. `confirmAfterMs` pass after the response was complete without the connection being
//      reset (a live client is reading; a slow one resuming later is covered by 3).
//
// A response cut short, or one whose connection is reset before 1, 2 or 4, counts only through
// 3. Completions thus follow the client's evidence by at most `confirmAfterMs`.

interface Pending {
  readonly record: TicketRecord;
  readonly range: TentativeRange;
  readonly dueAt: number;
  settled: boolean;
}

export interface DeliveryEvidenceOptions {
  readonly slots: SlotTable;
  readonly clock: { now(): number };
  readonly ended: (completion: Completion) => void;
  readonly confirmAfterMs: number;
}

export class DeliveryEvidence {
  readonly #options: DeliveryEvidenceOptions;
  readonly #bySocket = new WeakMap<Socket, Pending[]>();
  /** In due order: every entry is due confirmAfterMs after it was added. */
  #due: Pending[] = [];
  #dueHead = 0;

  constructor(options: DeliveryEvidenceOptions) {
    this.#options = options;
  }

  /** A request arrived on `socket`: whatever it was sent before has been read (rule 1). */
  requestArrived(socket: Socket): void {
    const pending = this.#bySocket.get(socket);
    if (pending === undefined || pending.length === 0) return;
    this.#confirmAll(pending.splice(0));
  }

  /** A response under `record` was completely flushed on `socket`. */
  responseComplete(socket: Socket, record: TicketRecord, range: TentativeRange): void {
    const entry: Pending = { record, range, dueAt: this.#options.clock.now() + this.#options.confirmAfterMs, settled: false };
    this.#due.push(entry);
    let pending = this.#bySocket.get(socket);
    if (pending === undefined) {
      pending = [];
      this.#bySocket.set(socket, pending);
      const list = pending;
      socket.once('close', (hadError: boolean) => {
        const entries = list.splice(0);
        if (!hadError) this.#confirmAll(entries); // rule 2
        else for (const e of entries) e.settled = true; // reset: only a resume can confirm
      });
    }
    pending.push(entry);
  }

  /** Confirms responses complete for `confirmAfterMs` (rule 4). */
  sweep(now: number): void {
    while (this.#dueHead < this.#due.length) {
      const entry = this.#due[this.#dueHead] as Pending;
      if (entry.dueAt > now) break;
      this.#dueHead++;
      this.#confirm(entry);
    }
    if (this.#dueHead > 1024 && this.#dueHead * 2 > this.#due.length) {
      this.#due = this.#due.slice(this.#dueHead);
      this.#dueHead = 0;
    }
  }

  #confirmAll(entries: readonly Pending[]): void {
    for (const entry of entries) this.#confirm(entry);
  }

  #confirm(entry: Pending): void {
    if (entry.settled) return;
    entry.settled = true;
    const completion = this.#options.slots.confirm(entry.record, entry.range, this.#options.clock.now());
    if (completion) this.#options.ended(completion);
  }
}
