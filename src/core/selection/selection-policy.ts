import type { Candidate } from './candidate.js';
import type { PolicyName } from './policy-name.js';

/** One order's question to a policy: the servers that hold the item, and where the client is if known. */
export interface SelectionRequest {
  readonly candidates: readonly Candidate[];
  /** The client's area, when the reception can tell it (e.g. from its address); proximity then reads `costByArea`. */
  readonly clientArea?: string;
}

/**
 * A way of choosing a content server for an order. `order` names the servers to try, best
 * first: every server that may take the order appears once, so when a notice is refused the
 * reception tries the next, and tells the client to come back only when all refused. Full,
 * draining and silent servers never appear. A policy may keep state between orders (round
 * robin's turn) and draw from its random source; given the same seed and the same requests it
 * gives the same answers.
 */
export interface SelectionPolicy {
  readonly name: PolicyName;
  order(request: SelectionRequest): string[];
}
