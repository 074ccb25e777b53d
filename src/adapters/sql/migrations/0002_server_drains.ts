import type { Kysely, Migration } from 'kysely';

// The operator's drains (`tessera drain`), so that a drained content server stays drained when
// a reception restarts, and every reception on the database sees the same drains.

export const serverDrains: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('server_drains')
      .addColumn('server_id', 'text', (c) => c.primaryKey())
      .addColumn('drained_at', 'bigint', (c) => c.notNull())
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('server_drains').execute();
  },
};
