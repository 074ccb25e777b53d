import { byServerId } from './by-server-id.js';
import { eligible } from './eligible.js';
import type { PolicyDeps } from './policy-deps.js';
import type { SelectionPolicy } from './selection-policy.js';

/**
 * The DNS baseline: each order starts one server further round the ring of servers (by ID),
 * whatever their size or load. It knows only what DNS health checks know, plus the slot check:
 * a full, draining or silent server is skipped, and the rest of the ring is the fallback.
 *
 * The turn is kept as the last server named first, not as a counter, so that servers coming
 * and going do not make the ring jump.
 */
export function roundRobin(deps: PolicyDeps): SelectionPolicy {
  let lastFirst: string | undefined;
  return {
    name: 'round-robin',
    order({ candidates }) {
      const ring = eligible(candidates, deps.clock.now(), deps.staleAfterMs).sort(byServerId);
      if (ring.length === 0) return [];
      let start = lastFirst === undefined ? 0 : ring.findIndex((c) => c.serverId > (lastFirst as string));
      if (start < 0) start = 0;
      const ordered = [...ring.slice(start), ...ring.slice(0, start)].map((c) => c.serverId);
      lastFirst = ordered[0];
      return ordered;
    },
  };
}
