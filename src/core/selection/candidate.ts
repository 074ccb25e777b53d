// A content server as one reception sees it when an order comes in (R2, R3). The reception's
// view is the server's last load report plus what the reception itself did since: the notices
// it made (the server counted them only in a later report) and the completions it heard of.
// The two are kept apart on purpose: a policy that reads only `reportedTaken` is the naive
// least-loaded one that herds on stale reports; the default adds `pendingNotices`.

export interface Candidate {
  readonly serverId: string;
  /** Slots: tickets the server serves at once. */
  readonly capacity: number;
  /** Slots taken (held or in use) per the server's last report. */
  readonly reportedTaken: number;
  /** Notices this reception made since that report was sent: slots the report does not show yet. */
  readonly pendingNotices: number;
  /** Completions of tickets on this server that this reception heard of since the report was sent. */
  readonly releasesSinceReport: number;
  /**
   * When each slot the report showed taken, and this reception has not heard end since, is
   * expected to free (Unix ms, this reception's clock), from the report's own figures
   * (slot-free-in.ts); Infinity for a slot the report counted but did not list. Absent when
   * there is no such forecast: the report's count then stands until the next report.
   */
  readonly reportedSlotsFreeAt?: readonly number[];
  /** A notice to this server was refused as slots-full since the report: take it as full until the next one. */
  readonly refusedSinceReport: boolean;
  /** Draining: finishing what it has, taking nothing new. */
  readonly draining: boolean;
  /** Unix ms when the last report arrived; a server silent for longer than the stale bound is left out. */
  readonly reportedAt: number;
  /** Where the server stands (seed 001 ¶0043). */
  readonly area: string;
  /** Cost of reaching the server from the reception (e.g. RTT in ms); lower is nearer. */
  readonly cost: number;
  /** Cost of reaching the server from a client area, where the operator knows it; wins over `cost`. */
  readonly costByArea?: Readonly<Record<string, number>>;
}
