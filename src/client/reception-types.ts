import type { OrderState } from '../core/order.js';

// The shapes of the reception's public API (docs: notes/reception-api.md). Dates stay ISO
// strings, as on the wire, so nothing is lost or reinterpreted by the client.

export interface Content {
  readonly id: string;
  readonly title: string;
  readonly fileName: string;
  readonly mimeType: string;
  readonly size: number;
  readonly sha256: string;
  readonly createdAt: string;
}

/** What POST /orders hands back about the ticket. `url` is a bearer credential: never log it. */
export interface TicketGrant {
  readonly url: string;
  readonly serverId: string;
  readonly notBefore: string;
  readonly expiresAt: string;
  readonly maxConnections: number;
}

export interface PlacedOrder {
  readonly id: string;
  readonly state: OrderState;
  readonly contentId: string;
  readonly createdAt: string;
}

export interface OrderPlaced {
  readonly order: PlacedOrder;
  readonly ticket: TicketGrant;
  readonly content: Content;
}

export interface OrderStatus {
  readonly id: string;
  readonly state: OrderState;
  readonly contentId: string;
  readonly serverId: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly bytesDelivered: number;
}

/**
 * A place in the waiting line, as a 503 all-servers-busy describes it (R9). The reception
 * promises every field, but a place is still a place when it leaves some out, so only the
 * token is required; the rest is undefined when absent or malformed. `queueToken` keeps the
 * place for whoever holds it: never log it.
 */
export interface LinePlace {
  readonly queueToken: string;
  readonly orderId: string | undefined;
  /** 1 = next to be admitted. */
  readonly position: number | undefined;
  readonly lineLength: number | undefined;
  /** The reception's estimate of the time until admission, from when it answered. */
  readonly estimatedWaitS: number | undefined;
  /** When to come back, in the reception's clock (ISO 8601). */
  readonly retryAt: string | undefined;
  /** When to come back, relative to the answer (the extension, else Retry-After). */
  readonly retryAfterS: number | undefined;
}
