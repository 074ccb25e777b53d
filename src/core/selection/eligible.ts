import type { Candidate } from './candidate.js';
import { expectedTaken } from './expected-taken.js';

/**
 * The servers any policy may name: not draining, heard from within `staleAfterMs` (a silent
 * server may be dead), and not full as far as this reception knows (expected-taken.ts). Every policy filters
 * through this one function, so none can pick a full, drained or dead server.
 */
export function eligible(candidates: readonly Candidate[], nowMs: number, staleAfterMs: number): Candidate[] {
  return candidates.filter(
    (c) => !c.draining && c.capacity > 0 && nowMs - c.reportedAt <= staleAfterMs && expectedTaken(c, nowMs) < c.capacity,
  );
}
