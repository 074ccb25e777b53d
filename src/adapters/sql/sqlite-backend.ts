import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, SqliteAdapter, SqliteDialect, SqliteDriver } from 'kysely';
import type { DatabaseConnection, DialectAdapter, Driver, SqliteDialectConfig } from 'kysely';
import type { SqlBackend } from './sql-backend.js';

const BUSY_TIMEOUT_MS = 5_000;

// Every transaction begins IMMEDIATE: it takes the write lock up front, waiting up to
// busy_timeout, instead of starting as a reader and failing at once with SQLITE_BUSY when it
// later tries to write after another process wrote (WAL does not retry that upgrade).
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

// Kysely's SQLite adapter runs migrations outside a transaction and takes no lock, which is
// safe for one connection but not for two processes opening the same file at once. SQLite
// has transactional DDL, so the migrator may wrap its work in a transaction, and because that
// transaction is IMMEDIATE it is also the lock: a second process waits, then finds nothing
// left to do.
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class TesseraSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** A SQLite file (or ":memory:") in WAL mode with foreign keys on. One connection per process. */
export function sqliteBackend(file: string): SqlBackend {
  const inMemory = file === ':memory:';
  return {
    dialect: new TesseraSqliteDialect({
      database: () => {
        if (!inMemory) mkdirSync(dirname(resolve(file)), { recursive: true });
        const db = new BetterSqlite3(file);
        // busy_timeout first: switching to WAL needs a moment of exclusive access.
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        db.pragma('journal_mode = WAL');
        db.pragma('foreign_keys = ON');
        return Promise.resolve(db);
      },
    }),
    migrationTableSchema: undefined,
  };
}
