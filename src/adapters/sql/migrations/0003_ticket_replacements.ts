import type { Kysely, Migration } from 'kysely';

// Replacement tickets (POST /orders/{id}/ticket): a ticketed order whose content server died
// gets a new ticket on another server. The count bounds how often one order may do that; the
// previous ticket's ID lets a client whose answer was lost ask again with the ticket it holds.

export const ticketReplacements: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('orders')
      .addColumn('ticket_replacements', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('orders').addColumn('previous_ticket_id', 'text').execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('orders').dropColumn('previous_ticket_id').execute();
    await db.schema.alterTable('orders').dropColumn('ticket_replacements').execute();
  },
};
