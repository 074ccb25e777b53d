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
  let outcome = await migrator.migrateToLatest();
  // Kysely's set-up introspects every schema's tables; a schema that another client drops at
  // that moment makes PostgreSQL fail the query with invalid_schema_name (3F000) although
  // nothing is wrong with ours. The set-up is idempotent: try again.
  for (let attempt = 1; attempt < 4 && isVanishedSchema(outcome.error); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    outcome = await migrator.migrateToLatest();
  }
  const { error, results } = outcome;
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'setup';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).map((r) => r.migrationName);
}

function isVanishedSchema(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '3F000';
}
