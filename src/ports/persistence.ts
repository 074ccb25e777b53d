import type { OrderState } from '../core/order.js';
import type { KeyEpoch } from '../core/ticket/ticket-keys.js';

// The durable state of a reception: the catalogue, the orders, the ticket key epochs and the
// operator's drains.
// One interface, two adapters (SQLite by default, PostgreSQL when configured), one contract
// suite that runs both (src/adapters/sql/persistence.contract.test.ts). All times are whole Unix
// ms; the order store refuses a fraction with a TypeError (PostgreSQL's bigint would, SQLite not).

export interface ContentRecord {
  readonly id: string;
  readonly title: string;
  readonly fileName: string;
  readonly mimeType: string;
  readonly size: number;
  /** Lowercase hex. */
  readonly sha256: string;
  readonly createdAt: number;
}

export interface OrderRecord {
  readonly id: string;
  readonly contentId: string;
  readonly state: OrderState;
  readonly clientAddress: string | null;
  readonly serverId: string | null;
  readonly ticketId: string | null;
  readonly ticketNotBefore: number | null;
  readonly ticketExpiresAt: number | null;
  /** Arrival number in the waiting line; set when the order first queued, never reused. */
  readonly queueSeq: number | null;
  /** Unix ms by which a queued client must come back to keep its place. */
  readonly queueReturnBy: number | null;
  readonly bytesDelivered: number | null;
  /** Why an order was rejected or expired, as a problem code or short reason. */
  readonly reason: string | null;
  /** How many times the ticket was replaced (a content server failed mid-download). */
  readonly ticketReplacements: number;
  /** The ticket the current one replaced; null before any replacement. */
  readonly previousTicketId: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** An order's place in the waiting line, without the rest of the order: what a copy of the line needs. */
export interface QueuePlace {
  readonly orderId: string;
  readonly contentId: string;
  /** Arrival number. */
  readonly queueSeq: number;
}

export interface NewOrder {
  readonly id: string;
  readonly contentId: string;
  readonly clientAddress: string | null;
  readonly createdAt: number;
}

export interface TicketIssued {
  readonly serverId: string;
  readonly ticketId: string;
  readonly ticketNotBefore: number;
  readonly ticketExpiresAt: number;
  readonly at: number;
}

export interface Catalogue {
  addContent(content: ContentRecord): Promise<void>;
  getContent(id: string): Promise<ContentRecord | undefined>;
  listContents(): Promise<readonly ContentRecord[]>;
  /** Records that a content server holds a replica. Idempotent. */
  addReplica(contentId: string, serverId: string, at: number): Promise<void>;
  replicaServers(contentId: string): Promise<readonly string[]>;
}

export interface OrderStore {
  createOrder(order: NewOrder): Promise<OrderRecord>;
  getOrder(id: string): Promise<OrderRecord | undefined>;
  /**
   * received or queued → ticketed in one conditional write; returns the updated order, or
   * undefined when the order was in neither state (someone else moved it first).
   */
  markTicketed(id: string, issued: TicketIssued): Promise<OrderRecord | undefined>;
  /**
   * ticketed → ticketed with a new ticket, in one conditional write: only while the order still
   * holds `currentTicketId` and has had fewer than `maxReplacements` replacements. Counts the
   * replacement and remembers the replaced ticket. Undefined when the condition did not hold.
   */
  replaceTicket(id: string, currentTicketId: string, issued: TicketIssued, maxReplacements: number): Promise<OrderRecord | undefined>;
  /** received → queued, with the next arrival number. */
  markQueued(id: string, returnBy: number, at: number): Promise<OrderRecord | undefined>;
  /** A queued client came back: it keeps its place until `returnBy`. */
  touchQueued(id: string, returnBy: number, at: number): Promise<OrderRecord | undefined>;
  /**
   * A reception starts. Clients cannot come back while no reception runs, so the places that
   * lapsed after the line was last served (the latest `updatedAt` among queued orders) are kept
   * until `returnBy`. Returns how many were kept.
   */
  keepPlacesAfterOutage(returnBy: number, at: number): Promise<number>;
  /** Queued orders still in line at `now` (not lapsed), in arrival order. */
  listQueued(now: number, limit: number): Promise<readonly OrderRecord[]>;
  /**
   * The places in line after arrival number `afterSeq` (exclusive) that are still in line at
   * `now`, in arrival order, at most `limit`: the line read page by page (a long line read in
   * one go would hold up everything else; SQLite even blocks the event loop while it reads).
   */
  listQueuePlaces(now: number, afterSeq: number, limit: number): Promise<readonly QueuePlace[]>;
  /** 1-based place of a queued order among those still in line at `now`; undefined when not queued. */
  queuePosition(id: string, now: number): Promise<number | undefined>;
  countQueued(now: number): Promise<number>;
  /** Queued orders whose client did not come back by `now` leave the line (→ expired). */
  expireLapsed(now: number, limit: number): Promise<readonly OrderRecord[]>;
  markRejected(id: string, reason: string, at: number): Promise<OrderRecord | undefined>;
  markCompleted(id: string, ticketId: string, bytesDelivered: number, at: number): Promise<OrderRecord | undefined>;
  markExpired(id: string, ticketId: string | null, reason: string, bytesDelivered: number | null, at: number): Promise<OrderRecord | undefined>;
  /** Orders still `ticketed` whose ticket expired before `before`, or `received` created before `before`: for the sweeper. */
  listStale(before: number, limit: number): Promise<readonly OrderRecord[]>;
  countByState(): Promise<Readonly<Partial<Record<OrderState, number>>>>;
}

export interface KeyStore {
  listEpochs(): Promise<readonly KeyEpoch[]>;
  /**
   * Adds epoch `newKid` as the active one and supersedes the previous active one, which retires
   * at `retireOldAt`. Atomic. `newKid` must be the highest kid + 1: returns false, changing
   * nothing, when it is not new any more (another reception rotated first); throws TypeError
   * when it skips kids.
   */
  rotate(newKid: number, at: number, retireOldAt: number): Promise<boolean>;
  /** Creates the first epoch if there is none. Safe to call from several receptions at once. */
  ensureInitial(at: number): Promise<void>;
}

/** A content server the operator drained (`tessera drain`): it gets no new tickets until undrained. */
export interface ServerDrain {
  readonly serverId: string;
  /** Unix ms of the drain. */
  readonly since: number;
}

/** Drains outlive a reception's restart and are shared by every reception on the same database. */
export interface DrainStore {
  list(): Promise<readonly ServerDrain[]>;
  /** Idempotent: draining a drained server keeps the first time. Returns the drain in force. */
  drain(serverId: string, at: number): Promise<ServerDrain>;
  /** Returns false when the server was not drained. */
  undrain(serverId: string): Promise<boolean>;
}

export interface Persistence {
  readonly catalogue: Catalogue;
  readonly orders: OrderStore;
  readonly keys: KeyStore;
  readonly drains: DrainStore;
  /** A cheap round trip, for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
