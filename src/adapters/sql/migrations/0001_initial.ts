import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

// A migration is frozen once released: it spells out its own values (the order states of the
// day) instead of importing them, so later code changes cannot rewrite history.

export const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('contents')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('file_name', 'text', (c) => c.notNull())
      .addColumn('mime_type', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull().check(sql`size >= 0`))
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('content_replicas')
      .addColumn('content_id', 'text', (c) => c.notNull().references('contents.id').onDelete('cascade'))
      .addColumn('server_id', 'text', (c) => c.notNull())
      .addColumn('placed_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('content_replicas_pk', ['content_id', 'server_id'])
      .execute();

    await db.schema
      .createTable('orders')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('content_id', 'text', (c) => c.notNull().references('contents.id'))
      .addColumn('state', 'text', (c) =>
        c.notNull().check(sql`state in ('received', 'queued', 'ticketed', 'completed', 'expired', 'rejected')`),
      )
      .addColumn('client_address', 'text')
      .addColumn('server_id', 'text')
      .addColumn('ticket_id', 'text', (c) => c.unique())
      .addColumn('ticket_not_before', 'bigint')
      .addColumn('ticket_expires_at', 'bigint')
      // Place in the waiting line (R9): arrival order, and the time by which the client must
      // come back to keep it.
      .addColumn('queue_seq', 'bigint', (c) => c.unique())
      .addColumn('queue_return_by', 'bigint')
      .addColumn('bytes_delivered', 'bigint')
      .addColumn('reason', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    // The sweeper's two questions: ticketed orders by expiry, received orders (same prefix).
    await db.schema.createIndex('orders_state_ticket_expires_at').on('orders').columns(['state', 'ticket_expires_at']).execute();

    await db.schema.createIndex('orders_state_queue_seq').on('orders').columns(['state', 'queue_seq']).execute();

    // Monotonic counters (the waiting line's arrival numbers): UPDATE … RETURNING works the same
    // on SQLite and PostgreSQL, so no dialect-specific sequence type is needed.
    await db.schema
      .createTable('counters')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .execute();
    await db.insertInto('counters' as never).values({ name: 'queue_seq', value: 0 } as never).execute();

    await db.schema
      .createTable('ticket_key_epochs')
      .addColumn('kid', 'integer', (c) => c.primaryKey())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('superseded_at', 'bigint')
      .addColumn('retires_at', 'bigint')
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const table of ['ticket_key_epochs', 'counters', 'orders', 'content_replicas', 'contents']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
