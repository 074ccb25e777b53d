// Choosing a content server for an order (R3): the least-loaded live server that holds the
// item; among servers of about equal load the nearer one wins (seed 001 ¶0043). Pure: the
// caller supplies every input, including the time. Issue 4 widens this into several policies.

export interface Candidate {
  readonly serverId: string;
  readonly capacity: number;
  /** Slots taken per the last report plus the notices this reception made since. */
  readonly slotsTaken: number;
  /** Cost of reaching the server (lower is nearer). */
  readonly cost: number;
  readonly draining: boolean;
  /** Unix ms when the last report arrived. */
  readonly reportedAt: number;
}

export interface SelectionPolicy {
  /** Loads within this fraction of capacity count as about equal. */
  readonly equalLoadBand: number;
  /** A server whose last report is older than this is left out. */
  readonly staleAfterMs: number;
}

export const defaultSelectionPolicy: SelectionPolicy = { equalLoadBand: 0.1, staleAfterMs: 5000 };

export function loadOf(c: Candidate): number {
  return c.capacity <= 0 ? Infinity : c.slotsTaken / c.capacity;
}

/** Servers to try, best first. Full, draining and silent servers are never in the list. */
export function rankServers(candidates: readonly Candidate[], nowMs: number, policy = defaultSelectionPolicy): string[] {
  const eligible = candidates.filter(
    (c) => !c.draining && c.capacity > 0 && c.slotsTaken < c.capacity && nowMs - c.reportedAt <= policy.staleAfterMs,
  );
  const remaining = eligible.sort((a, b) => loadOf(a) - loadOf(b) || a.cost - b.cost || a.serverId.localeCompare(b.serverId));
  const ranked: string[] = [];
  while (remaining.length > 0) {
    // Among the servers whose load is within the band of the least-loaded one, the nearest goes next.
    const least = loadOf(remaining[0] as Candidate);
    let pick = 0;
    for (let i = 1; i < remaining.length && loadOf(remaining[i] as Candidate) - least <= policy.equalLoadBand; i++) {
      if ((remaining[i] as Candidate).cost < (remaining[pick] as Candidate).cost) pick = i;
    }
    ranked.push((remaining.splice(pick, 1)[0] as Candidate).serverId);
  }
  return ranked;
}
