import { formatDuration, lowerFirst } from './format.js';
import type { AdmissionEvent } from './place-order-admitted.js';
import type { ReporterStream } from './progress-reporter.js';

// Shows a wait in line on a terminal (R9, R10). On a TTY one line, redrawn every second so the
// countdowns tick between the reception's answers, without the prefix so that it fits in 80
// columns, like the progress bar; elsewhere (a log, a pipe) a plain line per answer.
// Admission rings the terminal bell, on a TTY only: in a log file a BEL is just noise.

type Waiting = Extract<AdmissionEvent, { type: 'waiting' }>;
type Retrying = Extract<AdmissionEvent, { type: 'retrying' }>;
type Admitted = Extract<AdmissionEvent, { type: 'admitted' }>;

export interface WaitingLineReporterOptions {
  readonly stream: ReporterStream;
  readonly prefix?: string;
  /** Epoch milliseconds, the clock the admission events are in. */
  readonly now?: () => number;
  /** Redraw every second on a TTY (default true); tests call tick() instead. */
  readonly autoTick?: boolean;
}

export class WaitingLineReporter {
  readonly #stream: ReporterStream;
  readonly #tty: boolean;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #autoTick: boolean;
  #last: Waiting | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lineShown = false;

  constructor(options: WaitingLineReporterOptions) {
    this.#stream = options.stream;
    this.#tty = options.stream.isTTY === true;
    this.#prefix = options.prefix ?? '';
    this.#now = options.now ?? Date.now;
    this.#autoTick = options.autoTick ?? true;
  }

  /** True while a place in line is being shown. */
  get waiting(): boolean {
    return this.#last !== undefined;
  }

  update(event: Waiting): void {
    this.#last = event;
    if (!this.#tty) {
      this.#stream.write(`${this.#prefix}${this.text()}\n`);
      return;
    }
    this.#draw();
    if (this.#autoTick && this.#timer === undefined) {
      this.#timer = setInterval(() => this.tick(), 1000);
      this.#timer.unref();
    }
  }

  /** A refusal without a place: said once, on its own line. */
  retrying(event: Retrying): void {
    this.#clear();
    const wait = formatDuration((event.retryAt - this.#now()) / 1000);
    this.#stream.write(`${this.#prefix}${lowerFirst(event.reason)} (${event.code}); trying again in ${wait} (${event.attempt} of ${event.maxAttempts})\n`);
    if (this.#tty && this.#last) this.#draw();
  }

  admitted(event: Admitted): void {
    this.stop();
    if (this.#tty) this.#stream.write('\x07');
    this.#stream.write(`${this.#prefix}admitted after ${formatDuration(event.waitedMs / 1000)} — downloading\n`);
  }

  /** Removes the line and stops the countdown, e.g. before an error message. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
    this.#last = undefined;
  }

  tick(): void {
    if (this.#tty && this.#last) this.#draw();
  }

  /** "waiting in line: position 7 of 40, about 0:12 left (next check in 0:03)" */
  text(): string {
    const w = this.#last;
    if (!w) return '';
    const now = this.#now();
    let text = 'waiting in line';
    if (w.position !== undefined) text += `: position ${w.position}${w.lineLength !== undefined && w.lineLength >= w.position ? ` of ${w.lineLength}` : ''}`;
    if (w.estimatedWaitS !== undefined) {
      const left = w.estimatedWaitS - (now - w.answeredAt) / 1000;
      text += left > 0 ? `, about ${formatDuration(left)} left` : ', any moment now';
    }
    const next = w.retryAt - now;
    return `${text} (${next > 0 ? `next check in ${formatDuration(next / 1000)}` : 'checking now'})`;
  }

  #draw(): void {
    const reported = this.#stream.columns ?? 0;
    const columns = reported >= 20 ? reported : 80;
    this.#stream.write(`\r${this.text().slice(0, columns - 1)}\x1b[K`);
    this.#lineShown = true;
  }

  #clear(): void {
    if (this.#lineShown) {
      this.#stream.write('\r\x1b[K');
      this.#lineShown = false;
    }
  }
}
