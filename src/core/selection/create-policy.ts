import { bestOfTwo } from './best-of-two.js';
import { defaultPolicy } from './default-policy.js';
import { leastLoaded } from './least-loaded.js';
import type { PolicyDeps } from './policy-deps.js';
import type { PolicyName } from './policy-name.js';
import { randomPolicy } from './random-policy.js';
import { roundRobin } from './round-robin.js';
import type { SelectionPolicy } from './selection-policy.js';

/** The policy a configuration names, built with its clock and random source. */
export function createPolicy(name: PolicyName, deps: PolicyDeps): SelectionPolicy {
  switch (name) {
    case 'round-robin':
      return roundRobin(deps);
    case 'random':
      return randomPolicy(deps);
    case 'least-loaded':
      return leastLoaded(deps);
    case 'best-of-two':
      return bestOfTwo(deps);
    case 'default':
      return defaultPolicy(deps);
    default: {
      const unknown: never = name;
      throw new TypeError(`unknown server selection policy ${String(unknown)}`);
    }
  }
}
