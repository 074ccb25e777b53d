import { byServerId } from './by-server-id.js';
import { pickWeighted } from './pick-weighted.js';
import type { RandomSource } from './random-source.js';
import type { ScoredServer } from './scored-server.js';

/**
 * The power of two choices, repeated: draw two servers (by `weight`), put the better one next,
 * return the other to the pool, until the pool is empty. The first entry is the classic
 * best-of-two pick; the rest are the fallbacks for refused notices, chosen the same way.
 *
 * "Better": when the loads differ by more than `band`, the lower load; otherwise the nearer,
 * then the lower load, then the one drawn first (so on a full tie the draw's weights decide,
 * not the IDs).
 */
export function orderByPairs(
  servers: readonly ScoredServer[],
  weight: (s: ScoredServer) => number,
  band: number,
  random: RandomSource,
): string[] {
  // Sorted so that the draws, and so the answer, depend on the view and the seed only, not on
  // the order the caller listed the servers in.
  const pool = [...servers].sort(byServerId);
  const ordered: string[] = [];
  while (pool.length > 0) {
    if (pool.length === 1) {
      ordered.push((pool.pop() as ScoredServer).serverId);
      break;
    }
    const weights = pool.map(weight);
    const i = pickWeighted(weights, random);
    const j = pickWeighted(weights, random, i);
    const a = pool[i] as ScoredServer;
    const b = pool[j] as ScoredServer;
    const winner = better(a, b, band) ? i : j;
    ordered.push((pool.splice(winner, 1)[0] as ScoredServer).serverId);
  }
  return ordered;
}

/** Loads are ratios of small integers: 0.4 − 0.3 must count as 0.1, not a hair more. */
const EPSILON = 1e-9;

function better(a: ScoredServer, b: ScoredServer, band: number): boolean {
  if (Math.abs(a.load - b.load) > band + EPSILON) return a.load < b.load;
  if (a.cost !== b.cost) return a.cost < b.cost;
  return a.load <= b.load;
}
