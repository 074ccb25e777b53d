import type { RandomSource } from './random-source.js';

/**
 * Index drawn with probability proportional to its weight, skipping `exclude`. When every
 * weight left is zero, draws uniformly among the rest. Returns -1 when nothing is left.
 */
export function pickWeighted(weights: readonly number[], random: RandomSource, exclude = -1): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < weights.length; i++) {
    if (i === exclude) continue;
    total += Math.max(0, weights[i] as number);
    count++;
  }
  if (count === 0) return -1;
  if (total <= 0) {
    let k = Math.floor(random.next() * count);
    for (let i = 0; i < weights.length; i++) {
      if (i === exclude) continue;
      if (k-- === 0) return i;
    }
    return -1;
  }
  let r = random.next() * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (i === exclude) continue;
    const w = Math.max(0, weights[i] as number);
    if (w <= 0) continue;
    last = i;
    if (r < w) return i;
    r -= w;
  }
  // Rounding can leave r a hair above the last weight.
  return last;
}
