import type { Clock } from '../../core/clock.js';
import { isUuid } from '../../core/ids.js';
import type { ConsumedTicketLedger, LedgerAnswer, LedgerEntry } from '../../ports/consumed-ticket-ledger.js';
import type { LostListener, SharedStateCapabilities } from '../../ports/shared-state-capabilities.js';

// The consumed-ticket ledger of one process. Entries are forgotten when the injected clock
// passes their forgetAt: lazily on lookup, and in a sweep once the map has doubled since the
// last one, so memory follows the tickets still open and no timer runs.

interface LedgerState {
  readonly until: Map<string, number>;
  sweptAtSize: number;
}

export class MemoryConsumedTicketLedger implements ConsumedTicketLedger {
  readonly capabilities: SharedStateCapabilities = { crossProcess: false, losesStateOnStoreRestart: false };
  readonly #clock: Clock;
  readonly #state: LedgerState;

  constructor(clock: Clock, state?: LedgerState) {
    this.#clock = clock;
    this.#state = state ?? { until: new Map(), sweptAtSize: 1024 };
  }

  /** Another handle on the same ledger. */
  share(): MemoryConsumedTicketLedger {
    return new MemoryConsumedTicketLedger(this.#clock, this.#state);
  }

  /** Entries held, forgotten ones not yet swept included. */
  get size(): number {
    return this.#state.until.size;
  }

  consume(ticketId: string, forgetAt: number): Promise<boolean> {
    if (!isUuid(ticketId)) return Promise.reject(new TypeError('ticketId must be a lowercase UUID'));
    const now = this.#clock.now();
    if (this.#held(ticketId, now)) return Promise.resolve(false);
    if (forgetAt > now) this.#set(ticketId, forgetAt, now);
    return Promise.resolve(true);
  }

  check(ticketId: string): Promise<LedgerAnswer> {
    return Promise.resolve(this.#held(ticketId, this.#clock.now()) ? 'consumed' : 'unused');
  }

  addAll(entries: readonly LedgerEntry[]): Promise<void> {
    for (const e of entries) if (!isUuid(e.ticketId)) return Promise.reject(new TypeError('ticketId must be a lowercase UUID'));
    const now = this.#clock.now();
    for (const e of entries) {
      if (e.forgetAt <= now) continue;
      const held = this.#state.until.get(e.ticketId);
      if (held === undefined || held < e.forgetAt) this.#set(e.ticketId, e.forgetAt, now);
    }
    return Promise.resolve();
  }

  onLost(_listener: LostListener): () => void {
    return () => undefined;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #held(ticketId: string, now: number): boolean {
    const until = this.#state.until.get(ticketId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#state.until.delete(ticketId);
    return false;
  }

  #set(ticketId: string, forgetAt: number, now: number): void {
    const s = this.#state;
    s.until.set(ticketId, forgetAt);
    if (s.until.size < s.sweptAtSize * 2) return;
    for (const [id, until] of s.until) if (until <= now) s.until.delete(id);
    s.sweptAtSize = Math.max(1024, s.until.size);
  }
}
