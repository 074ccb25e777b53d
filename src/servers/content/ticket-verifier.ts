import { checkWindow, verifyTicket, type KeyLookup, type TicketClaims } from '../../core/ticket/ticket.js';

// Verified tickets, cached by their text, so resumed and parallel Range requests under one
// ticket pay for the AES-GCM open once. Only successes are cached: a refusal may turn into an
// acceptance later (keys arrive, not-before passes). The window is re-checked on every hit;
// the cache is emptied whenever the key set changes, so a retired key takes effect at once.
// Bounded, in two generations of at most half the entries each: when the young one is full it
// becomes the old one and the old one is dropped, so the newest half is always kept, which is
// what a ticket's short life makes right. (Evicting one oldest entry per insert through
// `map.keys().next()` costs 8–10 µs at 10,000 entries: V8's iterator walks every deleted slot
// left at the front of the table, and with a fresh ticket per request that was a tenth of the
// request.)

export interface TicketVerifierOptions {
  readonly audience: string;
  readonly keys: KeyLookup;
  readonly clockToleranceS: number;
  readonly maxEntries?: number;
}

export class TicketVerifier {
  readonly #options: TicketVerifierOptions;
  /** Entries per generation. */
  readonly #half: number;
  #young = new Map<string, TicketClaims>();
  #old = new Map<string, TicketClaims>();

  constructor(options: TicketVerifierOptions) {
    this.#options = options;
    this.#half = Math.max(1, Math.floor((options.maxEntries ?? 10_000) / 2));
  }

  /** Throws TesseraError with the refusal code. */
  verify(ticket: string, nowMs: number): TicketClaims {
    const cached = this.#young.get(ticket) ?? this.#old.get(ticket);
    if (cached !== undefined) {
      checkWindow(cached, nowMs, this.#options.clockToleranceS);
      return cached;
    }
    const claims = verifyTicket(ticket, {
      audience: this.#options.audience,
      keys: this.#options.keys,
      nowMs,
      clockToleranceS: this.#options.clockToleranceS,
    });
    if (this.#young.size >= this.#half) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(ticket, claims);
    return claims;
  }

  forget(ticket: string): void {
    this.#young.delete(ticket);
    this.#old.delete(ticket);
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }
}
