import type { Candidate } from './candidate.js';

/** How far the server is for an order: from the client's area when the operator gave that cost, else from the reception. */
export function costFor(c: Candidate, clientArea: string | undefined): number {
  if (clientArea !== undefined) {
    const byArea = c.costByArea?.[clientArea];
    if (byArea !== undefined) return byArea;
  }
  return c.cost;
}
