import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Persistence } from '../../ports/persistence.js';
import type { TesseraDatabase } from './schema.js';
import { SqlCatalogue } from './sql-catalogue.js';
import { SqlDrainStore } from './sql-drain-store.js';
import { SqlKeyStore } from './sql-key-store.js';
import { SqlOrderStore } from './sql-order-store.js';

/** The persistence port over any Kysely dialect; it owns `db` and destroys it on close. */
export function sqlPersistence(db: Kysely<TesseraDatabase>): Persistence {
  let closing: Promise<void> | undefined;
  return {
    catalogue: new SqlCatalogue(db),
    orders: new SqlOrderStore(db),
    keys: new SqlKeyStore(db),
    drains: new SqlDrainStore(db),
    async ping() {
      await sql`select 1`.execute(db);
    },
    close() {
      closing ??= db.destroy();
      return closing;
    },
  };
}
