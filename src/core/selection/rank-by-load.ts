import { byServerId } from './by-server-id.js';
import type { ScoredServer } from './scored-server.js';

/**
 * Least-loaded first; among the servers whose load is within `band` of the least-loaded one
 * left, the nearest goes next (seed 001 ¶0043). With band 0 it is a plain sort by load, then
 * distance, then ID. Deterministic: the same view gives the same order, which is exactly why
 * it herds when the view is stale and several orders (or receptions) read the same view.
 */
export function rankByLoad(servers: readonly ScoredServer[], band: number): string[] {
  const remaining = [...servers].sort((a, b) => a.load - b.load || a.cost - b.cost || byServerId(a, b));
  const ranked: string[] = [];
  while (remaining.length > 0) {
    const least = (remaining[0] as ScoredServer).load;
    let pick = 0;
    for (let i = 1; i < remaining.length && (remaining[i] as ScoredServer).load - least <= band; i++) {
      if ((remaining[i] as ScoredServer).cost < (remaining[pick] as ScoredServer).cost) pick = i;
    }
    ranked.push((remaining.splice(pick, 1)[0] as ScoredServer).serverId);
  }
  return ranked;
}
