import type { LoadReport } from '../core/control/messages.js';
import type { LostListener, SharedStateCapabilities, Unsubscribe } from './shared-state-capabilities.js';

// The content servers' latest load reports (R2), readable by every reception. A report stays
// on the board for the time-to-live its server gives with it; a server that stops reporting
// disappears when that runs out, so nobody has to decide when a silent server is gone. A
// reception subscribes instead of polling: it is told of every report posted after it
// subscribed, its own and other processes' alike.
//
// Adapters: in-process (src/adapters/memory/, expiry by an injected Clock) and Redis
// (src/adapters/redis/, one key per server with a PX expiry, pub/sub for the news). Contract:
// src/ports/load-report-board.contract.test.ts.

export interface PostedReport {
  readonly report: LoadReport;
  /** Unix ms when it was posted, by the poster's clock. */
  readonly postedAt: number;
  /** Unix ms when it leaves the board unless a newer report replaces it. */
  readonly expiresAt: number;
}

/** Called once per report posted; must not throw (a thrown error is reported and dropped). */
export type ReportListener = (posted: PostedReport) => void;

export interface LoadReportBoard {
  readonly capabilities: SharedStateCapabilities;
  /**
   * Puts `report` on the board for `ttlMs` (> 0) and tells every subscriber. A report older
   * than the one on the board (an earlier `sentAt`: reports can cross on the wire) changes
   * nothing and is not announced; returns whether it was taken. A server that restarted starts
   * its `seq` again at 1, so `sentAt` orders reports, not `seq`.
   */
  post(report: LoadReport, ttlMs: number): Promise<boolean>;
  /** The server's report while it has not expired. */
  get(serverId: string): Promise<PostedReport | undefined>;
  /** Every report not yet expired, by server ID. */
  list(): Promise<readonly PostedReport[]>;
  /**
   * Calls `listener` for every report taken from now on, until unsubscribed. Delivery is at
   * most once (a report missed while the store was unreachable is superseded by the next one
   * anyway); the subscription survives the store's restarts by itself.
   */
  subscribe(listener: ReportListener): Promise<Unsubscribe>;
  /** Reports vanish with a restarted store and come back with the next round of reports. */
  onLost(listener: LostListener): () => void;
  close(): Promise<void>;
}
