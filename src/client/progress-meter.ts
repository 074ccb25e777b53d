// Turns a stream of "bytes so far" readings into a rate and an ETA a person can read. The
// rate is an exponentially weighted average with a time constant of a few seconds, so one slow
// or fast burst does not make the ETA jump about, yet a lasting change shows within seconds.

export interface DownloadProgress {
  /** Bytes of the file on disk and verified into the running hash. */
  readonly bytesDone: number;
  /** Size of the whole file, when known. */
  readonly total: number | undefined;
  /** Smoothed transfer rate, bytes per second (0 until measured). */
  readonly rate: number;
  /** Seconds left at the current rate, when both the total and a rate are known. */
  readonly etaS: number | undefined;
}

/** Readings closer together than this are folded into the next one: too short to mean anything. */
const MIN_SAMPLE_MS = 100;

export class ProgressMeter {
  readonly #now: () => number;
  readonly #tauMs: number;
  #lastAt: number | undefined;
  #lastBytes = 0;
  #rate = 0;
  #measured = false;

  /** `now` is a monotonic clock in milliseconds (performance.now by default). */
  constructor(options: { now?: () => number; tauMs?: number } = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#tauMs = options.tauMs ?? 3000;
  }

  /**
   * Records that `bytesDone` bytes are done. A reading below the previous one (a restart from
   * zero) or the first reading only sets the baseline, so bytes that were already on disk at a
   * resume never count as transferred.
   */
  update(bytesDone: number, total: number | undefined): DownloadProgress {
    const now = this.#now();
    if (this.#lastAt === undefined || bytesDone < this.#lastBytes) {
      this.#lastAt = now;
      this.#lastBytes = bytesDone;
    } else {
      const dt = now - this.#lastAt;
      if (dt >= MIN_SAMPLE_MS) {
        const instant = ((bytesDone - this.#lastBytes) * 1000) / dt;
        if (this.#measured) {
          const alpha = 1 - Math.exp(-dt / this.#tauMs);
          this.#rate += alpha * (instant - this.#rate);
        } else {
          this.#rate = instant;
          this.#measured = true;
        }
        this.#lastAt = now;
        this.#lastBytes = bytesDone;
      }
    }
    let etaS: number | undefined;
    if (total !== undefined) {
      if (bytesDone >= total) etaS = 0;
      else if (this.#rate > 0) etaS = (total - bytesDone) / this.#rate;
    }
    return { bytesDone, total, rate: this.#rate, etaS };
  }
}
