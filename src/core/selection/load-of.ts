import type { Candidate } from './candidate.js';
import { expectedTaken } from './expected-taken.js';

/**
 * Which numbers a load is read from: `reported` is the last report alone (what a naive
 * balancer sees), `expected` brings it forward to now and adds this reception's own work
 * since (expected-taken.ts).
 */
export type LoadView = 'reported' | 'expected';

/** Share of the server's slots taken (taken ÷ capacity), so servers of different sizes compare. */
export function loadOf(c: Candidate, view: LoadView, nowMs: number): number {
  if (c.capacity <= 0) return Infinity;
  return (view === 'reported' ? c.reportedTaken : expectedTaken(c, nowMs)) / c.capacity;
}
