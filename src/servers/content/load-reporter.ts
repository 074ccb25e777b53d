import type { LoadReport } from '../../core/control/messages.js';
import type { Logger } from '../../observability/logger.js';
import type { ReceptionReply } from './reception-client.js';
import type { ReceptionAnswer } from './reception-pool.js';

// Pushes a LoadReport to every reception (reception-pool.ts) every interval, at once at start,
// soon after a change of state such as a drain (`nudge`), and, unless `slotChanges` is false,
// soon after any slot change (`slotsChanged`); at most one extra report per `minGapMs`. Each reply may carry
// a key set, which is handed to `onReply` and never logged. A reception that is down costs one
// warning per outage; the next report tries again after 1 s, then 2, 4, … up to the interval, so
// a reception that starts after its content servers hears from them within a second or two,
// not an interval later (a minute, with a long interval), and a dead one costs little.

export interface LoadReporterOptions {
  readonly intervalMs: number;
  readonly minGapMs: number;
  /** Report soon after a slot is taken or freed (TESSERA_REPORT_ON_CHANGE); false: on the interval only. */
  readonly slotChanges: boolean;
  readonly buildReport: () => LoadReport;
  /** Sends one report to every reception; one answer per reception. */
  readonly send: (report: LoadReport) => Promise<readonly ReceptionAnswer[]>;
  readonly onReply: (reply: ReceptionReply) => void;
  readonly logger: Logger;
}

/** The first retry after a reception did not take a report; each further one waits twice as long, up to the interval. */
const FIRST_RETRY_MS = 1000;

export class LoadReporter {
  readonly #options: LoadReporterOptions;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #lastSentAt = 0;
  /** The wait before the next retry while a reception is down (0: none is). */
  #retryMs = 0;
  /** The receptions that did not take the last report, by URL. */
  readonly #down = new Set<string>();
  #stopped = true;

  constructor(options: LoadReporterOptions) {
    this.#options = options;
  }

  /** At least one reception took the last report. */
  get reachable(): boolean {
    return this.#down.size < this.#receptions;
  }

  #receptions = 1;

  start(): void {
    this.#stopped = false;
    void this.reportNow();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A slot was taken or freed: report soon, unless this server reports on the interval only. */
  slotsChanged(): void {
    if (this.#options.slotChanges) this.nudge();
  }

  /** Something changed: report soon, without flooding the reception. */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    const wait = this.#lastSentAt + this.#options.minGapMs - Date.now();
    if (wait <= 0) void this.reportNow();
    else this.#schedule(wait);
  }

  /** Sends a report now (or joins the one in flight) and resolves when its reply is handled. */
  reportNow(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lastSentAt = Date.now();
    this.#inFlight = this.#send().finally(() => {
      this.#inFlight = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        // The gap counts from when this report left: a slow reply has already used it up.
        this.#schedule(Math.max(0, this.#lastSentAt + this.#options.minGapMs - Date.now()));
      } else {
        this.#schedule(this.#nextWaitMs());
      }
    });
    return this.#inFlight;
  }

  async #send(): Promise<void> {
    let answers: readonly ReceptionAnswer[];
    try {
      answers = await this.#options.send(this.#options.buildReport());
    } catch (error) {
      answers = [{ url: 'reception', error: error instanceof Error ? error : new Error(String(error)) }];
    }
    this.#receptions = Math.max(1, answers.length);
    for (const { url, reply, error } of answers) {
      const failure = error ?? (reply === undefined || reply.status < 200 || reply.status > 299 ? new Error(`the reception answered ${reply?.status ?? 0}`) : undefined);
      if (failure !== undefined) {
        if (!this.#down.has(url)) {
          this.#options.logger.warn({ reception: url, reason: failure.message }, 'cannot report load to the reception; will retry, after 1 s and then less often, up to every interval');
        }
        this.#down.add(url);
        continue;
      }
      if (this.#down.delete(url)) this.#options.logger.info({ reception: url }, 'the reception accepts load reports again');
      this.#options.onReply(reply as ReceptionReply);
    }
  }

  /** The interval, or while a reception is down, the next step of the backoff. */
  #nextWaitMs(): number {
    const interval = this.#options.intervalMs;
    if (this.#down.size === 0) {
      this.#retryMs = 0;
      return interval;
    }
    this.#retryMs = this.#retryMs === 0 ? FIRST_RETRY_MS : this.#retryMs * 2;
    return Math.min(interval, this.#retryMs);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    const at = Date.now() + delayMs;
    // Keep an earlier timer if one is already set.
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reportNow();
    }, delayMs);
    this.#timer.unref();
  }

  #timerAt = 0;
}
