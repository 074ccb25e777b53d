// The per-ticket bandwidth limit (TESSERA_TRANSFER_RATE_BPS): one token bucket per ticket, which
// every connection of that ticket draws from, so a client cannot get more by opening parallel
// Range requests. Tokens are bytes. A writer asks for up to a chunk, gets what the bucket holds
// (at least one tick's worth, or it is told to wait), and writes exactly that; waiters are woken
// by one shared ticker every TICK_MS. So at a limit the bytes leave in small even writes, 50 per
// second, and above what the machine can push the bucket never runs dry and costs one clock read
// per chunk: the limit never sleeps per chunk when there is budget.
//
// Time is monotonic (performance.now), not the server's Clock: this is pacing of real bytes on a
// real socket, and a ManualClock in a test must not freeze it.

/** How often waiting writers are woken; every write at the limit is about this much time's worth. */
export const TICK_MS = 20;
/** The bucket holds at most this much time's worth: a late tick on a busy machine loses nothing up to it. */
const BURST_MS = 100;

export class TokenBucket {
  readonly rateBps: number;
  /** The least a writer is given (unless it asks for less): one tick's worth. */
  readonly quantum: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(rateBps: number, nowMs: number) {
    if (!(Number.isFinite(rateBps) && rateBps > 0)) throw new TypeError('rateBps must be a positive number');
    this.rateBps = rateBps;
    this.quantum = Math.max(1, Math.floor((rateBps * TICK_MS) / 1000));
    this.#burst = Math.max(2 * this.quantum, Math.floor((rateBps * BURST_MS) / 1000));
    // A new transfer starts with one tick's worth, not a full burst, so that its service time is
    // size ÷ rate, which is what the reception predicts.
    this.#tokens = this.quantum;
    this.#at = nowMs;
  }

  /** Takes up to `max` bytes of budget; returns how many may be written now (0: wait). */
  take(max: number, nowMs: number): number {
    if (max <= 0) return 0;
    this.#refill(nowMs);
    const least = Math.min(max, this.quantum);
    if (this.#tokens < least) return 0;
    const granted = Math.min(max, Math.floor(this.#tokens));
    this.#tokens -= granted;
    return granted;
  }

  #refill(nowMs: number): void {
    if (nowMs > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#at) * this.rateBps) / 1000);
      this.#at = nowMs;
    }
  }
}

/** What a writer (FilePump) sees of its ticket's budget. */
export interface Pacer {
  /** Bytes that may be written now, at most `max`; 0 means call wait(). */
  take(max: number): number;
  /** Calls `wake` once, on a later tick; returns a function that cancels it. */
  wait(wake: () => void): () => void;
}

interface TicketBudget {
  readonly bucket: TokenBucket;
  readonly waiters: Set<() => void>;
  users: number;
}

/** The buckets of one content server, by ticket ID, and the one ticker that wakes their writers. */
export class TransferPacing {
  readonly rateBps: number;
  readonly #now: () => number;
  readonly #budgets = new Map<string, TicketBudget>();
  /** Budgets with writers waiting: only these are looked at on a tick. */
  readonly #waiting = new Set<TicketBudget>();
  #ticker: NodeJS.Timeout | undefined;

  constructor(rateBps: number, now: () => number = () => performance.now()) {
    if (!(Number.isFinite(rateBps) && rateBps > 0)) throw new TypeError('rateBps must be a positive number');
    this.rateBps = rateBps;
    this.#now = now;
  }

  /** Tickets with at least one connection using their budget. */
  get tickets(): number {
    return this.#budgets.size;
  }

  /**
   * The budget of `ticketId`, shared with its other connections; call the returned release()
   * when the connection is done. The budget is forgotten when its last connection is.
   */
  acquire(ticketId: string): { readonly pacer: Pacer; release(): void } {
    let budget = this.#budgets.get(ticketId);
    if (!budget) {
      budget = { bucket: new TokenBucket(this.rateBps, this.#now()), waiters: new Set(), users: 0 };
      this.#budgets.set(ticketId, budget);
    }
    budget.users++;
    const b = budget;
    let released = false;
    const waitersOfThis = new Set<() => void>();
    const pacer: Pacer = {
      take: (max) => b.bucket.take(max, this.#now()),
      wait: (wake) => {
        // Each call registers a distinct function, so one writer waiting twice is woken twice.
        const entry = (): void => {
          waitersOfThis.delete(entry);
          wake();
        };
        waitersOfThis.add(entry);
        b.waiters.add(entry);
        this.#waiting.add(b);
        this.#startTicker();
        return () => {
          waitersOfThis.delete(entry);
          b.waiters.delete(entry);
        };
      },
    };
    return {
      pacer,
      release: () => {
        if (released) return;
        released = true;
        for (const entry of waitersOfThis) b.waiters.delete(entry);
        waitersOfThis.clear();
        if (--b.users === 0 && this.#budgets.get(ticketId) === b) {
          this.#budgets.delete(ticketId);
          this.#waiting.delete(b);
        }
      },
    };
  }

  /** Stops the ticker (the server is stopping); waiting writers are not woken any more. */
  close(): void {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#waiting.clear();
  }

  #startTicker(): void {
    if (this.#ticker !== undefined) return;
    this.#ticker = setInterval(() => this.#tick(), TICK_MS);
  }

  #tick(): void {
    for (const budget of [...this.#waiting]) {
      // Waiters are woken oldest first; one that finds the budget spent waits again and goes to
      // the back, so parallel connections of a ticket take turns.
      const waiters = [...budget.waiters];
      budget.waiters.clear();
      this.#waiting.delete(budget);
      for (const wake of waiters) wake();
    }
    if (this.#waiting.size === 0) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }
}
