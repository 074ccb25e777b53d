import type { Dialect } from 'kysely';

/**
 * What one database adapter supplies. Everything above it (stores, migrations, tests) is one
 * code path; where backends differ, they differ through Kysely's dialect adapter flags
 * (supportsTransactionalDdl, supportsReturning, the migration lock) or through a field here.
 */
export interface SqlBackend {
  readonly dialect: Dialect;
  /**
   * The schema that holds the migration bookkeeping tables, for databases with schemas.
   * Kysely looks for its tables in every schema unless told which one, so a second Tessera
   * (or a test) in another schema of the same database would otherwise fool it.
   */
  readonly migrationTableSchema: string | undefined;
}
