import type { LostListener, SharedStateCapabilities } from './shared-state-capabilities.js';

// The waiting line (R9) shared by every reception: who waits, in arrival order, the front of
// the line, one order's place, and who lapsed (did not come back in time). It is a fast index,
// not the record: the order store (src/ports/persistence.ts OrderStore) keeps every queued
// order durably, with its arrival number (`queueSeq`, from the database's counter, which the
// queue token also carries) and the time by which its client must come back. The line
// mirrors those two numbers, so that position and front are a sorted-set lookup instead of a
// scan of the orders table.
//
// When its store loses the line (a Redis restart), every read and join rejects with
// SharedStateLost until a reception calls `rebuild` with the queued orders from the order
// store. Rebuilding merges, so several receptions rebuilding at once, or a join racing a
// rebuild, lose nobody; an entry the rebuild brings back for an order that was admitted in
// between is dropped when the reception finds the order no longer queued.
//
// Adapters: in-process (src/adapters/memory/) and Redis (src/adapters/redis/, two sorted
// sets). Contract: src/ports/waiting-line.contract.test.ts.

export interface LineEntry {
  readonly orderId: string;
  /** The item the order waits for: its size predicts the order's service time. */
  readonly contentId: string;
  /** Arrival number from the order store; unique, orders the line. */
  readonly seq: number;
  /** Unix ms: the order lapses (leaves the line) when its client has not come back by then. */
  readonly returnBy: number;
}

export interface WaitingLine {
  readonly capabilities: SharedStateCapabilities;
  /**
   * Puts the order in line at its arrival number. False, changing nothing, when it is in line
   * already (its place is kept). Throws TypeError for a `seq` that is not a positive safe
   * integer.
   */
  join(entry: LineEntry): Promise<boolean>;
  /** The client came back: it keeps its place until `returnBy`. False when not in line or lapsed at `now`. */
  touch(orderId: string, returnBy: number, now: number): Promise<boolean>;
  /** Up to `limit` (≥ 1) orders still in line at `now` (returnBy ≥ now), in arrival order. */
  front(now: number, limit: number): Promise<readonly LineEntry[]>;
  /**
   * Like `front`, from the first order whose arrival number is above `afterSeq`: the line read
   * page by page, as OrderStore.listQueuePlaces reads the durable one.
   */
  after(afterSeq: number, now: number, limit: number): Promise<readonly LineEntry[]>;
  /** 1-based place among the orders still in line at `now`; undefined when not in line or lapsed. */
  position(orderId: string, now: number): Promise<number | undefined>;
  /** Orders still in line at `now`. */
  length(now: number): Promise<number>;
  /** Leaves the line (admitted, or gave up). False when it was not in line. */
  remove(orderId: string): Promise<boolean>;
  /** Takes up to `limit` orders that lapsed by `now` out of the line; returns them in arrival order. */
  removeLapsed(now: number, limit: number): Promise<readonly LineEntry[]>;
  /**
   * Merges the queued orders of the order store into the line (an entry already there keeps
   * its place and the later returnBy) and marks the line whole again.
   */
  rebuild(entries: readonly LineEntry[]): Promise<void>;
  /**
   * Takes (or renews) the admission turn for `holder` until `ttlMs` from now: true when
   * `holder` has it. One holder at a time across every process sharing the line, so two
   * receptions never send notices for the same front order; a holder that dies loses the turn
   * when the time runs out. Works on a lost line too (admitting waits for the rebuild anyway).
   */
  takeTurn(holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the turn back if `holder` has it; changes nothing otherwise. */
  endTurn(holder: string): Promise<void>;
  /** The store lost the line; the next read would reject with SharedStateLost. */
  onLost(listener: LostListener): () => void;
  close(): Promise<void>;
}
