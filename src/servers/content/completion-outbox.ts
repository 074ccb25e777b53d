import type { Completion } from '../../core/control/messages.js';
import type { Logger } from '../../observability/logger.js';

// Completions wait here until the reception acknowledges them with a 2xx. The outbox lives in
// memory only: if the content server crashes, unsent completions are lost and the reception's
// sweeper expires those orders when their tickets' windows close (docs/content-server.md).
// While the reception is unreachable, sending pauses with exponential backoff; every pending
// completion is retried, oldest first.

export interface CompletionOutboxOptions {
  /** Resolves true on a 2xx, false on any other answer; rejects on network errors. */
  readonly send: (completion: Completion) => Promise<boolean>;
  readonly logger: Logger;
  readonly onDelivered?: (completion: Completion) => void;
  readonly concurrency?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Beyond this many pending completions the oldest are dropped (logged): memory stays bounded. */
  readonly maxPending?: number;
}

export class CompletionOutbox {
  readonly #options: CompletionOutboxOptions;
  readonly #concurrency: number;
  readonly #maxPending: number;
  #queue: Completion[] = [];
  #head = 0;
  #inFlight = 0;
  #delayMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: CompletionOutboxOptions) {
    this.#options = options;
    this.#concurrency = options.concurrency ?? 8;
    this.#maxPending = options.maxPending ?? 100_000;
  }

  get pending(): number {
    return this.#queue.length - this.#head + this.#inFlight;
  }

  enqueue(completion: Completion): void {
    if (this.#stopped) return;
    if (this.#queue.length - this.#head >= this.#maxPending) {
      const dropped = this.#queue[this.#head++];
      this.#options.logger.error({ ticketId: dropped?.ticketId }, 'completion outbox full: dropped the oldest completion');
    }
    this.#queue.push(completion);
    this.#pump();
  }

  /** Waits until nothing is pending, or `timeoutMs` passes. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.#idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.pending > 0) this.#options.logger.warn({ pending: this.pending }, 'stopping with unsent completions');
  }

  #pump(): void {
    while (!this.#stopped && this.#timer === undefined && this.#inFlight < this.#concurrency && this.#head < this.#queue.length) {
      // While failing, probe with one request at a time.
      if (this.#failing && this.#inFlight > 0) return;
      const completion = this.#queue[this.#head++] as Completion;
      this.#compact();
      this.#inFlight++;
      this.#options.send(completion).then(
        (ok) => this.#settled(completion, ok ? undefined : 'the reception refused it'),
        (error: unknown) => this.#settled(completion, error instanceof Error ? error.message : String(error)),
      );
    }
  }

  #settled(completion: Completion, failure: string | undefined): void {
    this.#inFlight--;
    if (failure === undefined) {
      if (this.#failing) this.#options.logger.info('completions are reaching the reception again');
      this.#failing = false;
      this.#delayMs = 0;
      this.#options.onDelivered?.(completion);
    } else {
      if (!this.#failing) this.#options.logger.warn({ reason: failure }, 'cannot deliver completions to the reception; retrying with backoff');
      this.#failing = true;
      // Back to the front, so completions go out in the order tickets ended.
      if (this.#head > 0) this.#queue[--this.#head] = completion;
      else this.#queue.unshift(completion);
      const base = this.#options.baseDelayMs ?? 250;
      this.#delayMs = Math.min(this.#options.maxDelayMs ?? 15_000, this.#delayMs === 0 ? base : this.#delayMs * 2);
      if (!this.#stopped && this.#timer === undefined) {
        const jittered = this.#delayMs * (0.75 + Math.random() * 0.5);
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, jittered);
        this.#timer.unref();
      }
    }
    this.#pump();
    if (this.pending === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
