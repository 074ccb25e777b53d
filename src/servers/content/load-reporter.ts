import type { LoadReport } from '../../core/control/messages.js';
import type { Logger } from '../../observability/logger.js';
import type { ReceptionReply } from './reception-client.js';

// Pushes a LoadReport to the reception every interval, at once at start, and soon after any
// slot change (at most one extra report per `minGapMs`). The reply may carry a key set, which
// is handed to `onReply` and never logged. A reception that is down costs one warning per
// outage; the next interval simply tries again.

export interface LoadReporterOptions {
  readonly intervalMs: number;
  readonly minGapMs: number;
  readonly buildReport: () => LoadReport;
  readonly send: (report: LoadReport) => Promise<ReceptionReply>;
  readonly onReply: (reply: ReceptionReply) => void;
  readonly logger: Logger;
}

export class LoadReporter {
  readonly #options: LoadReporterOptions;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #lastSentAt = 0;
  #down = false;
  #stopped = true;

  constructor(options: LoadReporterOptions) {
    this.#options = options;
  }

  get reachable(): boolean {
    return !this.#down;
  }

  start(): void {
    this.#stopped = false;
    void this.reportNow();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
        this.#schedule(this.#options.minGapMs);
      } else {
        this.#schedule(this.#options.intervalMs);
      }
    });
    return this.#inFlight;
  }

  async #send(): Promise<void> {
    try {
      const reply = await this.#options.send(this.#options.buildReport());
      if (reply.status < 200 || reply.status > 299) throw new Error(`the reception answered ${reply.status}`);
      if (this.#down) this.#options.logger.info('the reception accepts load reports again');
      this.#down = false;
      this.#options.onReply(reply);
    } catch (error) {
      if (!this.#down) {
        this.#options.logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'cannot report load to the reception; will retry every interval');
      }
      this.#down = true;
    }
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
