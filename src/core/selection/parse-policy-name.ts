import { policyNames, type PolicyName } from './policy-name.js';

/**
 * Reads a policy name from configuration. A wrong name is an operator's mistake, so it fails
 * loudly at start with the names that would have worked, rather than falling back silently.
 */
export function parsePolicyName(value: string): PolicyName {
  const name = value.trim();
  if ((policyNames as readonly string[]).includes(name)) return name as PolicyName;
  throw new TypeError(`unknown server selection policy "${value}": expected one of ${policyNames.join(', ')}`);
}
