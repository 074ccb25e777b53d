import type { Completion } from '../../core/control/messages.js';
import type { Logger } from '../../observability/logger.js';

// Completions wait here until the reception acknowledges them with a 2xx. The outbox lives in
// memory only: if the content server crashes, unsent completions are lost and the reception's
// sweeper expires those orders when their tickets' windows close (docs/content-server.md).
// While the reception is unreachable, sending pauses with exponential backoff; every pending
// completion is retried, oldest first. Completions are idempotent at the reception (a repeated
// one is acknowledged and changes nothing), so resending after a lost answer is safe.
//
// Sending one HTTP request per completion costs the content server more CPU than serving a
// small item does, so when the reception offers a batch endpoint the outbox sends everything
// pending in one request. It probes for it, falls back to one-by-one on 404/405, and probes
// again now and then, so a reception upgraded later is picked up without a restart. Batches start
// at least `minBatchGapMs` apart: a lone completion still leaves at once, but under load the
// completions of that interval share one request (each request costs about 100 µs of HTTP
// client work; at thousands of tickets a second, sending a batch whenever the previous one was
// answered made a request every millisecond or two).

export type BatchAnswer = 'acknowledged' | 'unsupported' | 'refused';

export interface CompletionOutboxOptions {
  /** Resolves true on a 2xx, false on any other answer; rejects on network errors. */
  readonly send: (completion: Completion) => Promise<boolean>;
  /** Sends many at once; 'unsupported' when the reception has no batch endpoint. */
  readonly sendBatch?: (completions: readonly Completion[]) => Promise<BatchAnswer>;
  readonly logger: Logger;
  readonly concurrency?: number;
  readonly maxBatch?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** How long to stay one-by-one before probing for batches again. */
  readonly batchProbeIntervalMs?: number;
  /** Beyond this many pending completions the oldest are dropped (logged): memory stays bounded. */
  readonly maxPending?: number;
  /** Least time between the starts of two batches (ms); 0 (default) sends as soon as one is answered. */
  readonly minBatchGapMs?: number;
}

export class CompletionOutbox {
  readonly #options: CompletionOutboxOptions;
  readonly #concurrency: number;
  readonly #maxBatch: number;
  readonly #maxPending: number;
  #queue: Completion[] = [];
  #head = 0;
  #inFlight = 0;
  #delayMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  #stopped = false;
  #batches: boolean;
  #probeBatchesAt = 0;
  #idleWaiters: (() => void)[] = [];
  #lastBatchAt = Number.NEGATIVE_INFINITY;
  /** Set while waiting for minBatchGapMs to pass. */
  #gapTimer: NodeJS.Timeout | undefined;

  constructor(options: CompletionOutboxOptions) {
    this.#options = options;
    this.#concurrency = options.concurrency ?? 8;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxPending = options.maxPending ?? 100_000;
    this.#batches = options.sendBatch !== undefined;
  }

  get pending(): number {
    return this.#queue.length - this.#head + this.#inFlight;
  }

  /** Whether completions currently go out in batches. */
  get batching(): boolean {
    return this.#batches;
  }

  enqueue(completion: Completion): void {
    if (this.#stopped) return;
    if (this.#queue.length - this.#head >= this.#maxPending) {
      const dropped = this.#queue[this.#head++];
      this.#options.logger.error({ ticketId: dropped?.ticketId }, 'completion outbox full: dropped the oldest completion');
    }
    this.#queue.push(completion);
    // Let completions of the same tick gather into one batch.
    if (this.#queue.length - this.#head === 1) queueMicrotask(() => this.#pump());
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
    clearTimeout(this.#gapTimer);
    this.#gapTimer = undefined;
    if (this.pending > 0) this.#options.logger.warn({ pending: this.pending }, 'stopping with unsent completions');
  }

  #pump(): void {
    if (!this.#batches && this.#options.sendBatch && Date.now() >= this.#probeBatchesAt) this.#batches = true;
    while (!this.#stopped && this.#timer === undefined && this.#head < this.#queue.length) {
      // While failing, probe with one request at a time; batches go one at a time anyway.
      if ((this.#failing || this.#batches) && this.#inFlight > 0) return;
      if (this.#inFlight >= this.#concurrency) return;
      if (this.#batches) {
        if (this.#gapTimer !== undefined) return;
        const wait = this.#lastBatchAt + (this.#options.minBatchGapMs ?? 0) - Date.now();
        if (wait > 0) {
          this.#gapTimer = setTimeout(() => {
            this.#gapTimer = undefined;
            this.#pump();
          }, wait);
          return;
        }
        this.#lastBatchAt = Date.now();
        this.#sendBatch();
      } else {
        this.#sendOne();
      }
    }
  }

  #sendOne(): void {
    const completion = this.#queue[this.#head++] as Completion;
    this.#compact();
    this.#inFlight++;
    this.#options.send(completion).then(
      (ok) => this.#settled([completion], ok ? undefined : 'the reception refused it'),
      (error: unknown) => this.#settled([completion], reason(error)),
    );
  }

  #sendBatch(): void {
    const sendBatch = this.#options.sendBatch;
    if (!sendBatch) return;
    const batch = this.#queue.slice(this.#head, this.#head + this.#maxBatch);
    this.#head += batch.length;
    this.#compact();
    this.#inFlight += batch.length;
    sendBatch(batch).then(
      (answer) => {
        if (answer === 'unsupported') {
          this.#options.logger.info('the reception takes no completion batches; sending completions one by one');
          this.#batches = false;
          this.#probeBatchesAt = Date.now() + (this.#options.batchProbeIntervalMs ?? 300_000);
          this.#requeue(batch);
          this.#inFlight -= batch.length;
          this.#pump();
          return;
        }
        this.#settled(batch, answer === 'acknowledged' ? undefined : 'the reception refused the batch');
      },
      (error: unknown) => this.#settled(batch, reason(error)),
    );
  }

  #settled(completions: readonly Completion[], failure: string | undefined): void {
    this.#inFlight -= completions.length;
    if (failure === undefined) {
      if (this.#failing) this.#options.logger.info('completions are reaching the reception again');
      this.#failing = false;
      this.#delayMs = 0;
    } else {
      if (!this.#failing) this.#options.logger.warn({ reason: failure }, 'cannot deliver completions to the reception; retrying with backoff');
      this.#failing = true;
      this.#requeue(completions);
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

  /** Puts unsent completions back at the front, so they go out in the order tickets ended. */
  #requeue(completions: readonly Completion[]): void {
    this.#queue = [...completions, ...this.#queue.slice(this.#head)];
    this.#head = 0;
  }

  #compact(): void {
    // Completions taken for sending must not stay referenced from the queue until a later
    // compaction: up to a thousand of them were kept alive that way for a hundred ms or more.
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
