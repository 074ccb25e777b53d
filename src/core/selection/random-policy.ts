import { byServerId } from './by-server-id.js';
import { eligible } from './eligible.js';
import type { PolicyDeps } from './policy-deps.js';
import type { SelectionPolicy } from './selection-policy.js';

/**
 * Random, weighted by capacity (as NGINX's `random` with server weights): a server with twice
 * the slots is drawn first twice as often. It reads no load at all, so stale reports cannot
 * mislead it: the yardstick a load-aware policy must never fall below.
 *
 * The order is a weighted shuffle (exponential keys, Efraimidis–Spirakis): one draw per server.
 */
export function randomPolicy(deps: PolicyDeps): SelectionPolicy {
  return {
    name: 'random',
    order({ candidates }) {
      const pool = eligible(candidates, deps.clock.now(), deps.staleAfterMs).sort(byServerId);
      const keyed = pool.map((c) => ({ id: c.serverId, key: -Math.log(1 - deps.random.next()) / c.capacity }));
      return keyed.sort((a, b) => a.key - b.key || (a.id < b.id ? -1 : 1)).map((k) => k.id);
    },
  };
}
