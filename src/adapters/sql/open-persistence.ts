import { Kysely } from 'kysely';
import type { Persistence } from '../../ports/persistence.js';
import { parseDatabaseUrl } from './database-url.js';
import { migrateToLatest } from './migrate-to-latest.js';
import type { SqlBackend } from './sql-backend.js';
import type { TesseraDatabase } from './schema.js';
import { sqlPersistence } from './sql-persistence.js';

export interface OpenPersistenceOptions {
  /** Run pending migrations before returning (default true). */
  readonly migrate?: boolean;
  /** Errors of idle pooled connections (PostgreSQL); by default a process warning. */
  readonly onIdleError?: (error: Error) => void;
}

function warnIdleError(error: Error): void {
  process.emitWarning(`idle database connection failed: ${error.message}`, 'TesseraDatabaseWarning');
}

async function openBackend(url: string, options: OpenPersistenceOptions): Promise<SqlBackend> {
  const target = parseDatabaseUrl(url);
  // Imported on demand so a deployment loads only the driver it uses.
  switch (target.kind) {
    case 'sqlite':
      return (await import('./sqlite-backend.js')).sqliteBackend(target.file);
    case 'postgres':
      return (await import('./postgres-backend.js')).postgresBackend(target.url, options.onIdleError ?? warnIdleError);
    default:
      return target satisfies never;
  }
}

/**
 * Opens the database a URL names (see parseDatabaseUrl), migrates it to the latest schema
 * and checks it answers. A SQLite file should be opened once per process: two connections
 * in one process would wait on each other's locks synchronously.
 */
export async function openPersistence(url: string, options: OpenPersistenceOptions = {}): Promise<Persistence> {
  const backend = await openBackend(url, options);
  const db = new Kysely<TesseraDatabase>({ dialect: backend.dialect });
  const persistence = sqlPersistence(db);
  try {
    if (options.migrate !== false) await migrateToLatest(db, backend);
    await persistence.ping();
  } catch (error) {
    await persistence.close();
    throw error;
  }
  return persistence;
}
