// A mean for measurements that drift and sometimes jump: see RobustMean.

export interface SmoothingSettings {
  /** Weight of a new sample once warmed up. */
  readonly alpha: number;
  /** Samples whose median (the prior counted as one of them) stands for the mean until there are this many. */
  readonly warmup: number;
  /** Once warmed up, a sample is clipped to mean ± (spread × this + floorMs)… */
  readonly clipSpreads: number;
  /** …so that a mean with no spread yet still follows small changes. */
  readonly clipFloorMs: number;
}

export const defaultSmoothing: SmoothingSettings = { alpha: 0.1, warmup: 8, clipSpreads: 4, clipFloorMs: 25 };

/**
 * The first measurements of a system that has just started are its least typical (connections
 * being set up, code not yet optimised, a burst of arrivals queueing for the CPU), so the mean
 * starts as the median of the prior and the first samples. Once there are `warmup` samples it
 * becomes an exponentially weighted mean that starts from that median and clips each sample
 * to a band around the mean whose width follows the smoothed absolute deviation: one client
 * who stalls a slot for seconds moves it a little, a lasting change moves it within a few
 * dozen samples.
 */
export class RobustMean {
  readonly #s: SmoothingSettings;
  #prior: number;
  readonly #first: number[] = [];
  #mean: number;
  #spread = 0;
  #count = 0;

  constructor(prior: number, settings: SmoothingSettings = defaultSmoothing) {
    this.#prior = prior;
    this.#mean = prior;
    this.#s = settings;
  }

  get value(): number {
    return this.#mean;
  }

  get samples(): number {
    return this.#count;
  }

  /** A better prior, learnt before any sample; once there are samples it changes nothing. */
  setPrior(prior: number): void {
    if (this.#count > 0 || !Number.isFinite(prior)) return;
    this.#prior = prior;
    this.#mean = prior;
  }

  record(sample: number): void {
    if (!Number.isFinite(sample)) return;
    this.#count++;
    if (this.#count <= this.#s.warmup) {
      this.#first.push(sample);
      const all = [this.#prior, ...this.#first].sort((a, b) => a - b);
      this.#mean = median(all);
      if (this.#count === this.#s.warmup) {
        this.#spread = median(this.#first.map((x) => Math.abs(x - this.#mean)).sort((a, b) => a - b));
        this.#first.length = 0;
      }
      return;
    }
    const band = this.#spread * this.#s.clipSpreads + this.#s.clipFloorMs;
    const x = Math.min(this.#mean + band, Math.max(this.#mean - band, sample));
    this.#spread += this.#s.alpha * (Math.abs(x - this.#mean) - this.#spread);
    this.#mean += this.#s.alpha * (x - this.#mean);
  }
}

/** Median of an ascending, non-empty list. */
function median(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
