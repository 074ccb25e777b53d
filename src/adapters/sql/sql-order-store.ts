import type { Kysely, Selectable, Updateable } from 'kysely';
import { assertTransition } from '../../core/order.js';
import type { OrderState } from '../../core/order.js';
import type { NewOrder, OrderRecord, OrderStore, QueuePlace, TicketIssued } from '../../ports/persistence.js';
import type { OrdersTable, TesseraDatabase } from './schema.js';

function toOrder(row: Selectable<OrdersTable>): OrderRecord {
  return {
    id: row.id,
    contentId: row.content_id,
    state: row.state,
    clientAddress: row.client_address,
    serverId: row.server_id,
    ticketId: row.ticket_id,
    ticketNotBefore: row.ticket_not_before,
    ticketExpiresAt: row.ticket_expires_at,
    queueSeq: row.queue_seq,
    queueReturnBy: row.queue_return_by,
    bytesDelivered: row.bytes_delivered,
    reason: row.reason,
    ticketReplacements: Number(row.ticket_replacements),
    previousTicketId: row.previous_ticket_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Times are whole milliseconds since the epoch (bigint columns). PostgreSQL refuses a fraction
 * and SQLite would store it as a REAL, so both refuse it here alike: a fraction is a caller's bug.
 */
function wholeMs(times: Readonly<Record<string, number>>): void {
  for (const [name, value] of Object.entries(times)) {
    if (!Number.isSafeInteger(value)) throw new TypeError(`${name} ${value} is not a whole number of milliseconds`);
  }
}

// Every move is one conditional UPDATE on (id, state): when two writers race for the same
// order, the database lets exactly one of them match the row and the other gets undefined.
export class SqlOrderStore implements OrderStore {
  readonly #db: Kysely<TesseraDatabase>;

  constructor(db: Kysely<TesseraDatabase>) {
    this.#db = db;
  }

  async createOrder(order: NewOrder): Promise<OrderRecord> {
    wholeMs({ createdAt: order.createdAt });
    const row = await this.#db
      .insertInto('orders')
      .values({
        id: order.id,
        content_id: order.contentId,
        state: 'received',
        client_address: order.clientAddress,
        created_at: order.createdAt,
        updated_at: order.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toOrder(row);
  }

  async getOrder(id: string): Promise<OrderRecord | undefined> {
    const row = await this.#db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toOrder(row);
  }

  async markTicketed(id: string, issued: TicketIssued): Promise<OrderRecord | undefined> {
    wholeMs({ ticketNotBefore: issued.ticketNotBefore, ticketExpiresAt: issued.ticketExpiresAt, at: issued.at });
    const row = await this.#db
      .updateTable('orders')
      .set({
        state: 'ticketed',
        server_id: issued.serverId,
        ticket_id: issued.ticketId,
        ticket_not_before: issued.ticketNotBefore,
        ticket_expires_at: issued.ticketExpiresAt,
        updated_at: issued.at,
      })
      .where('id', '=', id)
      .where('state', 'in', ['received', 'queued'])
      .returningAll()
      .executeTakeFirst();
    return row && toOrder(row);
  }

  async replaceTicket(id: string, currentTicketId: string, issued: TicketIssued, maxReplacements: number): Promise<OrderRecord | undefined> {
    wholeMs({ ticketNotBefore: issued.ticketNotBefore, ticketExpiresAt: issued.ticketExpiresAt, at: issued.at });
    if (!Number.isSafeInteger(maxReplacements) || maxReplacements < 0) throw new TypeError(`maxReplacements ${maxReplacements} is not a count`);
    const row = await this.#db
      .updateTable('orders')
      .set((eb) => ({
        server_id: issued.serverId,
        ticket_id: issued.ticketId,
        ticket_not_before: issued.ticketNotBefore,
        ticket_expires_at: issued.ticketExpiresAt,
        previous_ticket_id: currentTicketId,
        ticket_replacements: eb('ticket_replacements', '+', 1),
        updated_at: issued.at,
      }))
      .where('id', '=', id)
      .where('state', '=', 'ticketed')
      .where('ticket_id', '=', currentTicketId)
      .where('ticket_replacements', '<', maxReplacements)
      .returningAll()
      .executeTakeFirst();
    return row && toOrder(row);
  }

  markQueued(id: string, returnBy: number, at: number): Promise<OrderRecord | undefined> {
    wholeMs({ returnBy, at });
    assertTransition('received', 'queued');
    return this.#db.transaction().execute(async (trx) => {
      const counter = await trx
        .updateTable('counters')
        .set((eb) => ({ value: eb('value', '+', 1) }))
        .where('name', '=', 'queue_seq')
        .returning('value')
        .executeTakeFirstOrThrow();
      const row = await trx
        .updateTable('orders')
        .set({ state: 'queued', queue_seq: counter.value, queue_return_by: returnBy, updated_at: at })
        .where('id', '=', id)
        .where('state', '=', 'received')
        .returningAll()
        .executeTakeFirst();
      return row && toOrder(row);
    });
  }

  async touchQueued(id: string, returnBy: number, at: number): Promise<OrderRecord | undefined> {
    wholeMs({ returnBy, at });
    const row = await this.#db
      .updateTable('orders')
      .set({ queue_return_by: returnBy, updated_at: at })
      .where('id', '=', id)
      .where('state', '=', 'queued')
      .where('queue_return_by', '>=', at)
      .returningAll()
      .executeTakeFirst();
    return row && toOrder(row);
  }

  async keepPlacesAfterOutage(returnBy: number, at: number): Promise<number> {
    wholeMs({ returnBy, at });
    const last = await this.#db
      .selectFrom('orders')
      .select((eb) => eb.fn.max('updated_at').as('at'))
      .where('state', '=', 'queued')
      .executeTakeFirst();
    if (last?.at === null || last?.at === undefined) return 0;
    const result = await this.#db
      .updateTable('orders')
      .set({ queue_return_by: returnBy, updated_at: at })
      .where('state', '=', 'queued')
      .where('queue_return_by', '<', returnBy)
      .where('queue_return_by', '>=', Number(last.at))
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listQueued(now: number, limit: number): Promise<readonly OrderRecord[]> {
    wholeMs({ now });
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`limit ${limit} is not a positive integer`);
    const rows = await this.#db
      .selectFrom('orders')
      .selectAll()
      .where('state', '=', 'queued')
      .where('queue_return_by', '>=', now)
      .orderBy('queue_seq')
      .limit(limit)
      .execute();
    return rows.map(toOrder);
  }

  async listQueuePlaces(now: number, afterSeq: number, limit: number): Promise<readonly QueuePlace[]> {
    wholeMs({ now });
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`limit ${limit} is not a positive integer`);
    if (!Number.isSafeInteger(afterSeq)) throw new TypeError(`afterSeq ${afterSeq} is not an integer`);
    // Three columns, keyset-paged along the (state, queue_seq) index.
    const rows = await this.#db
      .selectFrom('orders')
      .select(['id', 'content_id', 'queue_seq'])
      .where('state', '=', 'queued')
      .where('queue_seq', '>', afterSeq)
      .where('queue_return_by', '>=', now)
      .orderBy('queue_seq')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ orderId: row.id, contentId: row.content_id, queueSeq: Number(row.queue_seq) }));
  }

  async queuePosition(id: string, now: number): Promise<number | undefined> {
    wholeMs({ now });
    const mine = await this.#db.selectFrom('orders').select(['queue_seq', 'state']).where('id', '=', id).executeTakeFirst();
    if (!mine || mine.state !== 'queued' || mine.queue_seq === null) return undefined;
    const ahead = await this.#db
      .selectFrom('orders')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'queued')
      .where('queue_seq', '<', mine.queue_seq)
      .where('queue_return_by', '>=', now)
      .executeTakeFirstOrThrow();
    return Number(ahead.n) + 1;
  }

  async countQueued(now: number): Promise<number> {
    wholeMs({ now });
    const row = await this.#db
      .selectFrom('orders')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'queued')
      .where('queue_return_by', '>=', now)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async expireLapsed(now: number, limit: number): Promise<readonly OrderRecord[]> {
    wholeMs({ now });
    const lapsed = await this.#db
      .selectFrom('orders')
      .select('id')
      .where('state', '=', 'queued')
      .where('queue_return_by', '<', now)
      .orderBy('queue_seq')
      .limit(limit)
      .execute();
    const out: OrderRecord[] = [];
    for (const { id } of lapsed) {
      const row = await this.#db
        .updateTable('orders')
        .set({ state: 'expired', reason: 'left-the-line', updated_at: now })
        .where('id', '=', id)
        .where('state', '=', 'queued')
        .where('queue_return_by', '<', now)
        .returningAll()
        .executeTakeFirst();
      if (row) out.push(toOrder(row));
    }
    return out;
  }

  markRejected(id: string, reason: string, at: number): Promise<OrderRecord | undefined> {
    wholeMs({ at });
    return this.#move(id, 'received', 'rejected', undefined, { reason, updated_at: at });
  }

  markCompleted(id: string, ticketId: string, bytesDelivered: number, at: number): Promise<OrderRecord | undefined> {
    wholeMs({ at });
    return this.#move(id, 'ticketed', 'completed', ticketId, { bytes_delivered: bytesDelivered, updated_at: at });
  }

  /** A null `ticketId` expires the order whatever ticket it holds (the sweeper's case). */
  markExpired(id: string, ticketId: string | null, reason: string, bytesDelivered: number | null, at: number): Promise<OrderRecord | undefined> {
    wholeMs({ at });
    return this.#move(id, 'ticketed', 'expired', ticketId ?? undefined, { reason, bytes_delivered: bytesDelivered, updated_at: at });
  }

  async listStale(before: number, limit: number): Promise<readonly OrderRecord[]> {
    wholeMs({ before });
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`limit ${limit} is not a positive integer`);
    const rows = await this.#db
      .selectFrom('orders')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'ticketed'), eb('ticket_expires_at', '<', before)]),
          eb.and([eb('state', '=', 'received'), eb('created_at', '<', before)]),
        ]),
      )
      .orderBy((eb) => eb.fn.coalesce('ticket_expires_at', 'created_at'))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toOrder);
  }

  async countByState(): Promise<Readonly<Partial<Record<OrderState, number>>>> {
    const rows = await this.#db
      .selectFrom('orders')
      .select((eb) => ['state', eb.fn.countAll<number>().as('count')])
      .groupBy('state')
      .execute();
    const counts: Partial<Record<OrderState, number>> = {};
    for (const row of rows) counts[row.state] = row.count;
    return counts;
  }

  async #move(
    id: string,
    from: OrderState,
    to: OrderState,
    ticketId: string | undefined,
    set: Omit<Updateable<OrdersTable>, 'state'>,
  ): Promise<OrderRecord | undefined> {
    assertTransition(from, to);
    let update = this.#db.updateTable('orders').set({ ...set, state: to }).where('id', '=', id).where('state', '=', from);
    if (ticketId !== undefined) update = update.where('ticket_id', '=', ticketId);
    const row = await update.returningAll().executeTakeFirst();
    return row && toOrder(row);
  }
}
