import { eligible } from './eligible.js';
import { orderByPairs } from './order-by-pairs.js';
import type { PolicyDeps } from './policy-deps.js';
import { scoreCandidates } from './score-candidates.js';
import type { SelectionPolicy } from './selection-policy.js';

/**
 * The classic power of two choices (Mitzenmacher; Envoy's and HAProxy's P2C, NGINX's `random
 * two least_conn`): draw two servers uniformly, take the one with the smaller share taken per
 * the last report, the nearer on an exact tie. It reads the same stale numbers as
 * least-loaded; only the chance in the draw keeps orders from all landing on one server.
 */
export function bestOfTwo(deps: PolicyDeps): SelectionPolicy {
  return {
    name: 'best-of-two',
    order({ candidates, clientArea }) {
      const now = deps.clock.now();
      const pool = eligible(candidates, now, deps.staleAfterMs);
      return orderByPairs(scoreCandidates(pool, 'reported', clientArea, now), () => 1, 0, deps.random);
    },
  };
}
