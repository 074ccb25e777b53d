import type { OrderState } from '../core/order.js';
import type { KeyEpoch } from '../core/ticket/ticket-keys.js';

// The durable state of a reception: the catalogue, the orders, and the ticket key epochs.
// One interface, two adapters (SQLite by default, PostgreSQL when configured), one contract
// suite that runs both (src/adapters/sql/persistence.contract.test.ts). All times are Unix ms.

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
  readonly createdAt: number;
  readonly updatedAt: number;
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
  /** received → queued, with the next arrival number. */
  markQueued(id: string, returnBy: number, at: number): Promise<OrderRecord | undefined>;
  /** A queued client came back: it keeps its place until `returnBy`. */
  touchQueued(id: string, returnBy: number, at: number): Promise<OrderRecord | undefined>;
  /** Queued orders still in line at `now` (not lapsed), in arrival order. */
  listQueued(now: number, limit: number): Promise<readonly OrderRecord[]>;
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

export interface Persistence {
  readonly catalogue: Catalogue;
  readonly orders: OrderStore;
  readonly keys: KeyStore;
  /** A cheap round trip, for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
