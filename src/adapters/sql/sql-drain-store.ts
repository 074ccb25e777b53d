import type { Kysely } from 'kysely';
import type { DrainStore, ServerDrain } from '../../ports/persistence.js';
import type { TesseraDatabase } from './schema.js';

export class SqlDrainStore implements DrainStore {
  readonly #db: Kysely<TesseraDatabase>;

  constructor(db: Kysely<TesseraDatabase>) {
    this.#db = db;
  }

  async list(): Promise<readonly ServerDrain[]> {
    const rows = await this.#db.selectFrom('server_drains').selectAll().orderBy('server_id').execute();
    return rows.map((r) => ({ serverId: r.server_id, since: r.drained_at }));
  }

  async drain(serverId: string, at: number): Promise<ServerDrain> {
    if (!Number.isSafeInteger(at)) throw new TypeError('a drain time is whole Unix ms');
    // Two operators (or receptions) draining at once: the first time stays, both see it.
    await this.#db
      .insertInto('server_drains')
      .values({ server_id: serverId, drained_at: at })
      .onConflict((oc) => oc.column('server_id').doNothing())
      .execute();
    const row = await this.#db.selectFrom('server_drains').selectAll().where('server_id', '=', serverId).executeTakeFirstOrThrow();
    return { serverId: row.server_id, since: row.drained_at };
  }

  async undrain(serverId: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('server_drains').where('server_id', '=', serverId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
