import type { ServerHealth } from '../server-health.js';
import type { ServerKeySet } from '../ticket/ticket-keys.js';

// Messages on the control channel (the "dedicated network" of seed 000 claim 3): separate
// loopback listeners that the public ports never expose, authenticated by a per-server bearer
// token (see ticket-keys.ts controlToken). The shapes here are the contract between the
// reception and the content servers, whatever carries them (HTTP now, Redis later).

/** Where a content server stands relative to the reception (seed 001 ¶0043). */
export interface ServerLocation {
  readonly area: string;
  /** Cost of reaching it from the reception (e.g. RTT in ms); lower is nearer. */
  readonly cost: number;
}

/** One transfer in progress or a slot held for a ticket not yet used. */
export interface SlotReport {
  readonly ticketId: string;
  /** Bytes still to send for the ticket to be consumed. */
  readonly remainingBytes: number;
  /** Recent send rate of this ticket's connections, bytes/s (0 while only held). */
  readonly bytesPerSecond: number;
  /** Unix ms when the slot is released if nothing more happens (hold deadline or ticket expiry). */
  readonly releaseBy: number;
  readonly state: 'held' | 'active' | 'idle';
}

/** Content server → reception, every report interval. */
export interface LoadReport {
  readonly serverId: string;
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly location: ServerLocation;
  /** Number of slots: tickets this server serves at once. */
  readonly capacity: number;
  /** Slots taken: held by a notice, or in use. */
  readonly slotsTaken: number;
  /** Open connections sending content. */
  readonly activeTransfers: number;
  readonly bytesPerSecond: number;
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number };
  readonly slots: readonly SlotReport[];
  /** Version of the key set the server holds; the reply carries a new one when it differs. */
  readonly keySetVersion: string;
  /** Unix ms by the server's clock; the reception records the age of every report. */
  readonly sentAt: number;
  /** Counts up by one per report from this process: a gap means reports were lost, a restart starts again at 1. */
  readonly seq: number;
  /**
   * How often this server reports, ms. The reception takes a server out of selection after a
   * few missed intervals (src/core/server-health.ts); without it, after its longest bound.
   */
  readonly intervalMs?: number;
  /** True while the server is draining (stopping, or drained by the operator): it accepts no new notices. */
  readonly draining: boolean;
  /** Bandwidth limit of one ticket's transfer, bytes/s; 0 when unlimited. Lets the reception predict service times before it has seen a transfer. */
  readonly transferRateLimit?: number;
}

export interface LoadReportReply {
  readonly keySet?: ServerKeySet;
  /**
   * Whether the operator has drained this server (`tessera drain`). The server then refuses
   * notices from any reception, and says so in its reports, until a reply says false.
   */
  readonly drain?: boolean;
  /**
   * The answering reception's name (TESSERA_RECEPTION_ID, or host and control port), as its
   * notices carry it in `issuedBy`: where the content server sends those tickets' completions.
   */
  readonly receptionId?: string;
}

/** Reception → content server: the notice of issuance, which is also the allocation check. */
export interface Notice {
  readonly ticketId: string;
  readonly orderId: string;
  readonly contentId: string;
  /** Unix ms. */
  readonly notBefore: number;
  /** Unix ms: the ticket's expiry. */
  readonly expiresAt: number;
  /** Unix ms: if no transfer has started by then, the slot is released. */
  readonly holdUntil: number;
  readonly maxConnections: number;
  /**
   * Bytes of the item the client already holds from an earlier ticket of the same order (a
   * replacement ticket after its content server failed): delivered before this ticket, so the
   * content server may count them towards consumption. Absent means 0.
   */
  readonly heldBytes?: number;
  /**
   * The reception that sent the notice (its `receptionId`). The ticket's completion goes to it
   * first, so that the reception counting the slot as taken by its own ticket learns it is free
   * without waiting for the server's next load report. Absent: any reception.
   */
  readonly issuedBy?: string;
}

export interface NoticeAccepted {
  readonly ticketId: string;
  readonly holdUntil: number;
}

/** Content server → reception, when a ticket ends. Sent until acknowledged. */
export interface Completion {
  readonly ticketId: string;
  readonly orderId: string;
  readonly contentId: string;
  readonly serverId: string;
  /** completed: every byte was delivered and the ticket is consumed. expired: the window closed first. */
  readonly outcome: 'completed' | 'expired';
  readonly bytesDelivered: number;
  /** Unix ms. */
  readonly at: number;
  /**
   * The content server's own note of the notice's `issuedBy`, for routing: never sent (see
   * `completionOnTheWire`).
   */
  readonly issuedBy?: string;
}

/** A completion as sent to a reception: without the content server's routing note. */
export function completionOnTheWire({ issuedBy: _routing, ...completion }: Completion): Completion {
  return completion;
}

/** A reception's name as notices and load report replies carry it. */
export const RECEPTION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Reception → content server: place a replica (body is the content bytes). */
export interface ReplicaHeaders {
  readonly sha256: string;
  readonly size: number;
  readonly fileName: string;
  readonly mimeType: string;
}

/** Why a server gets no new tickets although it reports. */
export interface DrainStatus {
  /** operator: `tessera drain` (kept in the database until `tessera undrain`); server: it stopped taking notices itself (it is stopping). */
  readonly by: 'operator' | 'server';
  /** Unix ms when the operator drained it; null when the server drains itself. */
  readonly since: number | null;
  /** The content server applied the drain too: its last report said so. */
  readonly acknowledged: boolean;
}

/**
 * One content server as the reception sees it: GET /admin/servers on the reception's control
 * listener, the `tessera status` table and the status page. Figures only: no URL of the
 * control channel, no ticket, no token.
 */
export interface ServerStatus {
  readonly serverId: string;
  readonly publicUrl: string;
  readonly health: ServerHealth;
  /** Reporting in time (health is not stale). */
  readonly live: boolean;
  readonly drain: DrainStatus | null;
  readonly location: ServerLocation;
  readonly capacity: number;
  /** Slots taken (held or in use) per the last report. */
  readonly slotsTaken: number;
  /**
   * Slots taken as this reception counts them: the last report, plus its own notices since,
   * less the completions it heard of since (all of them after a notice was refused for want of
   * a slot). What its selection and waiting line go by.
   */
  readonly slotsCounted: number;
  readonly activeTransfers: number;
  readonly bytesPerSecond: number;
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number };
  /** Time since the last report arrived, ms. */
  readonly reportAgeMs: number;
  readonly reportSeq: number;
  /** The interval the server announced; null when it did not. */
  readonly reportIntervalMs: number | null;
  /** Silence after which this server is stale (src/core/server-health.ts staleAfterMs). */
  readonly staleAfterMs: number;
}

export interface StatusSnapshot {
  /** Unix ms, the reception's clock. */
  readonly at: number;
  readonly servers: readonly ServerStatus[];
}

export const CONTROL_PATHS = {
  loadReports: '/control/load-reports',
  completions: '/control/completions',
  completionBatches: '/control/completion-batches',
  notices: '/control/notices',
  replicas: '/control/replicas',
} as const;
