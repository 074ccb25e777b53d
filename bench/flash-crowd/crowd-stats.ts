// Small statistics for the flash-crowd report. Pure functions over plain numbers.

/** Nearest-rank quantile of an ascending list (q in 0..1); NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

export function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** |predicted − actual| ÷ actual, with the actual wait floored at `floorS` so that a near-zero wait does not explode the ratio. */
export function relativeError(predictedS: number, actualS: number, floorS = 0.1): number {
  return Math.abs(predictedS - actualS) / Math.max(actualS, floorS);
}

/** (predicted − actual) ÷ actual: positive when the prediction was too long. */
export function signedError(predictedS: number, actualS: number, floorS = 0.1): number {
  return (predictedS - actualS) / Math.max(actualS, floorS);
}

/**
 * Pairs (a, b) where a comes strictly before b by `order` and yet b happened strictly before a
 * by `at`. Ties on either key are not counted: two orders admitted in the same millisecond are
 * not out of order. Quadratic, which is fine for the few thousand clients of a run.
 */
export function inversions(items: readonly { readonly order: number; readonly at: number }[], minOrderGap = 0): number {
  const sorted = [...items].sort((x, y) => x.order - y.order);
  let count = 0;
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as { order: number; at: number };
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as { order: number; at: number };
      if (b.order - a.order > minOrderGap && b.at < a.at) count++;
    }
  }
  return count;
}

/** Ranks 1..n, ties sharing their average rank. */
export function ranks(values: readonly number[]): number[] {
  const indexed = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const out = new Array<number>(values.length).fill(0);
  let k = 0;
  while (k < indexed.length) {
    let end = k;
    while (end + 1 < indexed.length && (indexed[end + 1] as { v: number }).v === (indexed[k] as { v: number }).v) end++;
    const rank = (k + end) / 2 + 1;
    for (let m = k; m <= end; m++) out[(indexed[m] as { i: number }).i] = rank;
    k = end + 1;
  }
  return out;
}

/** Spearman's rank correlation (Pearson on ranks); NaN for fewer than two points. */
export function spearman(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new TypeError('spearman: lists of different lengths');
  if (xs.length < 2) return Number.NaN;
  const rx = ranks(xs);
  const ry = ranks(ys);
  const mx = mean(rx);
  const my = mean(ry);
  let num = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < rx.length; i++) {
    const a = (rx[i] as number) - mx;
    const b = (ry[i] as number) - my;
    num += a * b;
    dx += a * a;
    dy += b * b;
  }
  return dx === 0 || dy === 0 ? Number.NaN : num / Math.sqrt(dx * dy);
}
