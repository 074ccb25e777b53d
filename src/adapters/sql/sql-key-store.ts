import type { Kysely } from 'kysely';
import type { KeyEpoch } from '../../core/ticket/ticket-keys.js';
import type { KeyStore } from '../../ports/persistence.js';
import type { TesseraDatabase } from './schema.js';

export class SqlKeyStore implements KeyStore {
  readonly #db: Kysely<TesseraDatabase>;

  constructor(db: Kysely<TesseraDatabase>) {
    this.#db = db;
  }

  async listEpochs(): Promise<readonly KeyEpoch[]> {
    const rows = await this.#db.selectFrom('ticket_key_epochs').selectAll().orderBy('kid').execute();
    return rows.map((r) => ({ kid: r.kid, createdAt: r.created_at, supersededAt: r.superseded_at, retiresAt: r.retires_at }));
  }

  async rotate(newKid: number, at: number, retireOldAt: number): Promise<boolean> {
    if (!Number.isSafeInteger(newKid) || newKid < 1 || newKid > 0xffff_ffff) throw new TypeError(`kid ${newKid} is not a 32-bit key ID`);
    if (retireOldAt < at) throw new TypeError('the old key cannot retire before the rotation');
    return this.#db.transaction().execute(async (trx) => {
      const { max } = await trx
        .selectFrom('ticket_key_epochs')
        .select((eb) => eb.fn.max('kid').as('max'))
        .executeTakeFirstOrThrow();
      const next = (max ?? 0) + 1;
      if (newKid > next) throw new TypeError(`kid ${newKid} skips kids: the next one is ${next}`);
      if (newKid < next) return false;
      // Another reception rotating at the same moment inserts the same kid; the loser's insert
      // does nothing (PostgreSQL waits for the winner's commit first) and it reports false.
      const inserted = await trx
        .insertInto('ticket_key_epochs')
        .values({ kid: newKid, created_at: at, superseded_at: null, retires_at: null })
        .onConflict((oc) => oc.column('kid').doNothing())
        .returning('kid')
        .executeTakeFirst();
      if (inserted === undefined) return false;
      await trx
        .updateTable('ticket_key_epochs')
        .set({ superseded_at: at, retires_at: retireOldAt })
        .where('superseded_at', 'is', null)
        .where('kid', '<', newKid)
        .execute();
      return true;
    });
  }

  async ensureInitial(at: number): Promise<void> {
    await this.#db
      .insertInto('ticket_key_epochs')
      .values({ kid: 1, created_at: at, superseded_at: null, retires_at: null })
      .onConflict((oc) => oc.column('kid').doNothing())
      .execute();
  }
}
