import type { Candidate } from './candidate.js';

/**
 * Slots taken as best this reception knows at `nowMs`: the report brought forward to now (the
 * slots it showed that have not ended, by this reception's completions or by the report's own
 * forecast of when each frees), plus its own notices since, bounded by the capacity. A refusal
 * since the report means someone (another reception) took the rest. Without a forecast, the
 * report's count less this reception's completions since.
 *
 * Other receptions' notices since the report are not known here, however old it is: that part
 * of the view is what Mitzenmacher's old information is about, and why the default compares
 * two random draws rather than taking the least loaded.
 */
export function expectedTaken(c: Candidate, nowMs: number): number {
  if (c.refusedSinceReport) return c.capacity;
  const fromReport =
    c.reportedSlotsFreeAt === undefined
      ? c.reportedTaken - c.releasesSinceReport
      : c.reportedSlotsFreeAt.reduce((n, freeAt) => (freeAt > nowMs ? n + 1 : n), 0);
  return Math.min(c.capacity, Math.max(0, fromReport + c.pendingNotices));
}
