import { eligible } from './eligible.js';
import { orderByPairs } from './order-by-pairs.js';
import type { PolicyDeps } from './policy-deps.js';
import { scoreCandidates } from './score-candidates.js';
import type { SelectionPolicy } from './selection-policy.js';

/**
 * The default: best of two draws weighted by capacity, compared on the load this reception
 * expects (the last report plus its own notices since, less its own completions since), the
 * nearer winning among loads within the equal-load band.
 *
 * Why this and not "the least-loaded server": a reception sees other receptions' work only in
 * reports, up to one report interval old. Every argmin over the same stale numbers picks the
 * same server, and several receptions pick it together: the herd that Mitzenmacher showed can
 * do worse than random ("How useful is old information?", IEEE TPDS 2000). Three things
 * answer it, one each:
 * - Counting its own notices on top of the report removes the herd within one reception: each
 *   order it places raises the load it reads, so the next order goes elsewhere. This is exact
 *   for its own work, which with one reception is all the work.
 * - Drawing two at random and keeping the better removes the herd across receptions: two
 *   receptions reading the same stale numbers still draw different pairs, so their orders
 *   spread, while the comparison keeps most of the benefit of knowing the load (best-of-two
 *   stays good on old information where least-loaded breaks down).
 * - Drawing by capacity and comparing shares (taken ÷ capacity) makes servers of different
 *   sizes fill at the same pace: with no load information at all it degrades to capacity-
 *   weighted random, not to round robin, which sends a small server as much as a big one.
 * The slot check at the content server (the notice is the allocation) stops any server from
 * being oversubscribed whatever the view; the fallback list makes a refused notice cost one
 * control round trip rather than a client's retry.
 */
export function defaultPolicy(deps: PolicyDeps): SelectionPolicy {
  return {
    name: 'default',
    order({ candidates, clientArea }) {
      const now = deps.clock.now();
      const pool = eligible(candidates, now, deps.staleAfterMs);
      return orderByPairs(scoreCandidates(pool, 'expected', clientArea, now), (s) => s.capacity, deps.equalLoadBand, deps.random);
    },
  };
}
