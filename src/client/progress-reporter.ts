import { formatBytes, formatDuration } from './format.js';
import type { DownloadProgress } from './progress-meter.js';

// Shows a download's progress on a terminal: on a TTY one line redrawn in place (at most ten
// times a second), elsewhere (a log, a pipe) a plain line every few seconds.

export interface ReporterStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressReporterOptions {
  readonly stream: ReporterStream;
  readonly prefix?: string;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  readonly ttyIntervalMs?: number;
  readonly plainIntervalMs?: number;
}

export class ProgressReporter {
  readonly #stream: ReporterStream;
  readonly #tty: boolean;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #interval: number;
  #lastDrawAt = Number.NEGATIVE_INFINITY;
  #last: DownloadProgress | undefined;
  #barShown = false;

  constructor(options: ProgressReporterOptions) {
    this.#stream = options.stream;
    this.#tty = options.stream.isTTY === true;
    this.#prefix = options.prefix ?? '';
    this.#now = options.now ?? (() => performance.now());
    this.#interval = this.#tty ? (options.ttyIntervalMs ?? 100) : (options.plainIntervalMs ?? 5000);
  }

  update(progress: DownloadProgress): void {
    this.#last = progress;
    const now = this.#now();
    if (now - this.#lastDrawAt < this.#interval) return;
    this.#lastDrawAt = now;
    this.#draw(progress);
  }

  /** Prints a message on its own line without tearing the progress bar. */
  note(message: string): void {
    this.#clear();
    this.#stream.write(`${this.#prefix}${message}\n`);
    if (this.#tty && this.#last) this.#draw(this.#last);
  }

  /** Draws the final state (TTY) and leaves the cursor on a fresh line. */
  finish(): void {
    if (this.#tty && this.#last) {
      this.#draw(this.#last);
      this.#stream.write('\n');
      this.#barShown = false;
    }
  }

  /** Removes the bar, e.g. before an error message. */
  clear(): void {
    this.#clear();
  }

  #clear(): void {
    if (this.#barShown) {
      this.#stream.write('\r\x1b[K');
      this.#barShown = false;
    }
  }

  #draw(p: DownloadProgress): void {
    const done = formatBytes(p.bytesDone);
    const rate = `${formatBytes(p.rate)}/s`;
    const fraction = p.total === undefined ? undefined : p.total === 0 ? 1 : Math.min(1, p.bytesDone / p.total);
    const percent = fraction === undefined ? '' : `${(fraction * 100).toFixed(fraction < 1 ? 1 : 0)}%`;
    const of = p.total === undefined ? done : `${done} / ${formatBytes(p.total)}`;
    if (!this.#tty) {
      const share = percent === '' ? '' : ` (${percent})`;
      this.#stream.write(`${this.#prefix}${of}${share}, ${rate}, ETA ${formatDuration(p.etaS)}\n`);
      return;
    }
    const text = `${of}  ${rate}  ETA ${formatDuration(p.etaS)}`;
    // A pseudo-terminal may report 0 columns; assume the classic width then.
    const reported = this.#stream.columns ?? 0;
    const columns = reported >= 20 ? reported : 80;
    let line = `${percent.padStart(6)} ${text}`;
    const barWidth = Math.min(30, columns - line.length - 4);
    if (fraction !== undefined && barWidth >= 10) {
      const filled = Math.round(fraction * barWidth);
      line = `${percent.padStart(6)} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${text}`;
    }
    this.#stream.write(`\r${line.slice(0, Math.max(0, columns - 1))}\x1b[K`);
    this.#barShown = true;
  }
}
