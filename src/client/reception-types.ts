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
