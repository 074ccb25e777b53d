import { checkWindow, verifyTicket, type KeyLookup, type TicketClaims } from '../../core/ticket/ticket.js';

// Verified tickets, cached by their text, so resumed and parallel Range requests under one
// ticket pay for the AES-GCM open once. Only successes are cached: a refusal may turn into an
// acceptance later (keys arrive, not-before passes). The window is re-checked on every hit;
// the cache is emptied whenever the key set changes, so a retired key takes effect at once.
//
// Bounded, in two generations of at most half the entries each: a verified ticket, or one found
// in the old generation, goes into the young one; when the young one is full it becomes the old
// one and the old one is dropped. So a ticket in use stays cached, and one used once is gone
// after `maxEntries` others. A miss only costs one more AES-GCM open.
//
// Why so small (256 by default), and why not "oldest out" one by one: with a fresh ticket per
// request nearly every entry is used once, and each one alive at a young-generation GC is copied
// with its claims (~1 KB a ticket, the URL text included): at 10,000 entries they were also
// promoted, at 1,024 the copying alone still made each GC three times as long (measured: about
// 1 MB copied per scavenge, against 0.2 MB at 128). Evicting through `map.keys().next()`
// costs 8–10 µs at 10,000 entries: V8's iterator walks every deleted slot left at the front of
// the table.

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
    this.#half = Math.max(1, Math.floor((options.maxEntries ?? 256) / 2));
  }

  /** Throws TesseraError with the refusal code. */
  verify(ticket: string, nowMs: number): TicketClaims {
    const young = this.#young.get(ticket);
    if (young !== undefined) {
      checkWindow(young, nowMs, this.#options.clockToleranceS);
      return young;
    }
    const old = this.#old.get(ticket);
    if (old !== undefined) {
      checkWindow(old, nowMs, this.#options.clockToleranceS);
      this.#old.delete(ticket);
      this.#remember(ticket, old);
      return old;
    }
    const claims = verifyTicket(ticket, {
      audience: this.#options.audience,
      keys: this.#options.keys,
      nowMs,
      clockToleranceS: this.#options.clockToleranceS,
    });
    this.#remember(ticket, claims);
    return claims;
  }

  #remember(ticket: string, claims: TicketClaims): void {
    if (this.#young.size >= this.#half) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(ticket, claims);
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
