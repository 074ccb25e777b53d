import type { Generated } from 'kysely';
import type { OrderState } from '../../core/order.js';

// The tables as Kysely sees them. Times are Unix ms and sizes are bytes, stored as bigint and
// read back as JS numbers (exact up to 2^53: 8 PiB, or the year 287396).

export interface ContentsTable {
  id: string;
  title: string;
  file_name: string;
  mime_type: string;
  size: number;
  sha256: string;
  created_at: number;
}

export interface ContentReplicasTable {
  content_id: string;
  server_id: string;
  placed_at: number;
}

export interface OrdersTable {
  id: string;
  content_id: string;
  state: OrderState;
  client_address: string | null;
  server_id: string | null;
  ticket_id: string | null;
  ticket_not_before: number | null;
  ticket_expires_at: number | null;
  queue_seq: number | null;
  queue_return_by: number | null;
  bytes_delivered: number | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
  /** Tickets issued to replace an earlier one (defaults to 0). */
  ticket_replacements: Generated<number>;
  previous_ticket_id: string | null;
}

export interface TicketKeyEpochsTable {
  kid: number;
  created_at: number;
  superseded_at: number | null;
  retires_at: number | null;
}

export interface CountersTable {
  name: string;
  value: number;
}

export interface ServerDrainsTable {
  server_id: string;
  drained_at: number;
}

export interface TesseraDatabase {
  counters: CountersTable;
  contents: ContentsTable;
  content_replicas: ContentReplicasTable;
  orders: OrdersTable;
  ticket_key_epochs: TicketKeyEpochsTable;
  server_drains: ServerDrainsTable;
}
