import type { Candidate } from './candidate.js';
import { costFor } from './cost-for.js';
import { loadOf, type LoadView } from './load-of.js';
import type { ScoredServer } from './scored-server.js';

/** Reads each candidate's load (by `view`) and distance for this order. */
export function scoreCandidates(candidates: readonly Candidate[], view: LoadView, clientArea: string | undefined, nowMs: number): ScoredServer[] {
  return candidates.map((c) => ({ serverId: c.serverId, load: loadOf(c, view, nowMs), cost: costFor(c, clientArea), capacity: c.capacity }));
}
