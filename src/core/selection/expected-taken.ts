import type { Candidate } from './candidate.js';

/**
 * Slots taken as best this reception knows now: the report, plus its own notices since, less
 * its own completions since, bounded by the capacity. A refusal since the report means someone
 * (another reception) took the rest.
 */
export function expectedTaken(c: Candidate): number {
  if (c.refusedSinceReport) return c.capacity;
  return Math.min(c.capacity, Math.max(0, c.reportedTaken + c.pendingNotices - c.releasesSinceReport));
}
