import { Migrator } from 'kysely';
import type { Kysely } from 'kysely';
import { migrationProvider } from './migrations/migration-provider.js';
import type { SqlBackend } from './sql-backend.js';

/**
 * Brings the schema up to date. Safe when several processes start at once: on PostgreSQL the
 * migrator holds an advisory lock and a transaction; on SQLite its transaction begins
 * IMMEDIATE (see sqlite-backend.ts), which serialises them the same way.
 */
export async function migrateToLatest<T>(db: Kysely<T>, backend: Pick<SqlBackend, 'migrationTableSchema'>): Promise<readonly string[]> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    ...(backend.migrationTableSchema === undefined ? {} : { migrationTableSchema: backend.migrationTableSchema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'setup';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).map((r) => r.migrationName);
}
