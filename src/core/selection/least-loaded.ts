import { eligible } from './eligible.js';
import type { PolicyDeps } from './policy-deps.js';
import { rankByLoad } from './rank-by-load.js';
import { scoreCandidates } from './score-candidates.js';
import type { SelectionPolicy } from './selection-policy.js';

/**
 * Naive least-loaded: the server with the smallest share of slots taken *per its last report*,
 * the nearer on a tie. Kept as the counter-example (Mitzenmacher, "How useful is old
 * information?", 2000): between two reports every order reads the same numbers and goes to the
 * same server, which fills while the others idle, and several receptions herd together.
 */
export function leastLoaded(deps: PolicyDeps): SelectionPolicy {
  return {
    name: 'least-loaded',
    order({ candidates, clientArea }) {
      const now = deps.clock.now();
      const pool = eligible(candidates, now, deps.staleAfterMs);
      return rankByLoad(scoreCandidates(pool, 'reported', clientArea, now), 0);
    },
  };
}
