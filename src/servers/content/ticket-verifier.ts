import { checkWindow, verifyTicket, type KeyLookup, type TicketClaims } from '../../core/ticket/ticket.js';

// Verified tickets, cached by their text, so resumed and parallel Range requests under one
// ticket pay for the AES-GCM open once. Only successes are cached: a refusal may turn into an
// acceptance later (keys arrive, not-before passes). The window is re-checked on every hit;
// the cache is emptied whenever the key set changes, so a retired key takes effect at once.
// Bounded: when full, the oldest entry goes (insertion order), which is what a ticket's short
// life makes right.

export interface TicketVerifierOptions {
  readonly audience: string;
  readonly keys: KeyLookup;
  readonly clockToleranceS: number;
  readonly maxEntries?: number;
}

export class TicketVerifier {
  readonly #options: TicketVerifierOptions;
  readonly #max: number;
  readonly #cache = new Map<string, TicketClaims>();

  constructor(options: TicketVerifierOptions) {
    this.#options = options;
    this.#max = options.maxEntries ?? 10_000;
  }

  /** Throws TesseraError with the refusal code. */
  verify(ticket: string, nowMs: number): TicketClaims {
    const cached = this.#cache.get(ticket);
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
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(ticket, claims);
    return claims;
  }

  forget(ticket: string): void {
    this.#cache.delete(ticket);
  }

  clear(): void {
    this.#cache.clear();
  }

  get size(): number {
    return this.#cache.size;
  }
}
