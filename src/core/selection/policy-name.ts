/** The selection policies a reception can be configured with (one per reception). */
export const policyNames = ['round-robin', 'random', 'least-loaded', 'best-of-two', 'default'] as const;

export type PolicyName = (typeof policyNames)[number];
