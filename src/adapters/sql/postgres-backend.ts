import pg from 'pg';
import { PostgresDialect } from 'kysely';
import type { SqlBackend } from './sql-backend.js';

// pg returns int8 (bigint, and count(*)) as strings. This pool, and only this pool, reads them
// as JS numbers, refusing any value a number cannot hold exactly rather than rounding it.
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`int8 value ${text} does not fit a JS number exactly`);
  return value;
}

const types: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format),
};

/**
 * A pooled PostgreSQL connection. Resolves once the server answered, so a wrong URL fails at
 * start. `onIdleError` receives errors of idle pooled connections (a restarted server), which
 * would otherwise crash the process.
 */
export async function postgresBackend(url: string, onIdleError: (error: Error) => void): Promise<SqlBackend> {
  const pool = new pg.Pool({ connectionString: url, types });
  pool.on('error', onIdleError);
  // A connection that PostgreSQL drops while it is checked out (the server stopped mid-query or
  // between two queries of a transaction) emits 'error' on its client, where the pool's idle
  // listener is not attached: without a listener of its own that would crash the process. The
  // query in flight is rejected anyway, and the pool discards the client.
  pool.on('connect', (client) => client.on('error', onIdleError));
  try {
    const result = await pool.query<{ schema: string | null }>('select current_schema() as schema');
    const schema = result.rows[0]?.schema;
    if (!schema) throw new Error('PostgreSQL has no current schema: check search_path');
    return { dialect: new PostgresDialect({ pool }), migrationTableSchema: schema };
  } catch (error) {
    await pool.end();
    throw error;
  }
}
