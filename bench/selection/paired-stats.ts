// Small-sample statistics for comparing two policies measured on the same footing several
// times (live repetitions, or simulator seeds with common random numbers): a pair is told apart
// only when the 95 % interval of their paired difference is clear of zero.

/** Two-sided 95 % Student t quantiles, by degrees of freedom. */
const T95 = [Number.NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086];

export function t95(df: number): number {
  if (df < 1) return Number.NaN;
  return df < T95.length ? (T95[df] as number) : 1.96;
}

export interface Summary {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1); NaN for one sample. */
  readonly sd: number;
  readonly min: number;
  readonly max: number;
}

export function summarise(xs: readonly number[]): Summary {
  const n = xs.length;
  if (n === 0) return { n, mean: Number.NaN, sd: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : Number.NaN;
  return { n, mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

export interface PairedDifference {
  readonly n: number;
  /** Mean of a − b over the repetitions both have. */
  readonly mean: number;
  /** 95 % interval of that mean (t, n − 1 degrees of freedom); NaN below two pairs. */
  readonly low: number;
  readonly high: number;
}

/** a − b paired by repetition: the pairs ran minutes apart on the same machine with the same clients. */
export function pairedDifference(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): PairedDifference {
  const diffs: number[] = [];
  for (const [rep, x] of a) {
    const y = b.get(rep);
    if (y !== undefined && Number.isFinite(x) && Number.isFinite(y)) diffs.push(x - y);
  }
  const s = summarise(diffs);
  const half = s.n > 1 ? (t95(s.n - 1) * s.sd) / Math.sqrt(s.n) : Number.NaN;
  return { n: s.n, mean: s.mean, low: s.mean - half, high: s.mean + half };
}

/** -1: a clearly faster; 1: b clearly faster; 0: not told apart (the interval holds zero, or too few pairs). */
export function clearOrder(d: PairedDifference): -1 | 0 | 1 {
  if (!(d.n > 1) || Number.isNaN(d.low)) return 0;
  if (d.high < 0) return -1;
  if (d.low > 0) return 1;
  return 0;
}

