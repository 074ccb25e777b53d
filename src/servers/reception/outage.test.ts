import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort } from '../../../bench/harness/net.js';
import { POSTGRES_URL, REDIS_URL, requirePostgres, requireRedis } from '../../../test/support/services.js';
import { TesseraError } from '../../core/errors.js';
import { unavailableOnFailure } from './ordering.js';
import { isOutage } from './outage.js';

// The errors here come from the real drivers talking to real servers: what an outage looks like
// is whatever PostgreSQL, SQLite and Redis actually send, not what we imagine they send.

async function failureOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  assert.fail('expected the work to fail');
}

function failureOfSync(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  assert.fail('expected the work to fail');
}

describe('isOutage: which dependency failures are worth a 503 and a retry', () => {
  it('PostgreSQL: a refused value or a broken query is not an outage; a refused connection, a killed session or a statement timeout is', async (t) => {
    if (!(await requirePostgres(t))) return;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      // The bug that hid behind "the order database is unavailable": a fraction for a bigint.
      const fraction = await failureOf(() => client.query('SELECT $1::bigint', ['1795303891534.5']));
      assert.equal((fraction as { code?: string }).code, '22P02');
      assert.equal(isOutage(fraction), false);
      assert.equal(isOutage(await failureOf(() => client.query('SELECT * FROM no_such_table_here'))), false);

      await client.query('SET statement_timeout = 1');
      const slow = await failureOf(() => client.query('SELECT pg_sleep(1)'));
      assert.equal((slow as { code?: string }).code, '57014');
      assert.equal(isOutage(slow), true);
    } finally {
      await client.end();
    }

    const doomed = new pg.Client({ connectionString: POSTGRES_URL });
    await doomed.connect();
    doomed.on('error', () => undefined);
    const killed = await failureOf(() => doomed.query('SELECT pg_terminate_backend(pg_backend_pid())'));
    assert.equal((killed as { code?: string }).code, '57P01');
    assert.equal(isOutage(killed), true);
    const afterwards = await failureOf(() => doomed.query('SELECT 1'));
    assert.equal(isOutage(afterwards), true, `a query on the dead connection: ${String(afterwards)}`);
    await doomed.end().catch(() => undefined);

    const port = await freePort();
    const nobody = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/test` });
    const refused = await failureOf(() => nobody.connect());
    assert.equal((refused as { code?: string }).code, 'ECONNREFUSED');
    assert.equal(isOutage(refused), true);
  });

  it('SQLite: a constraint is not an outage; a database locked by another writer is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-outage-'));
    const a = new Database(join(dir, 'db.sqlite'));
    const b = new Database(join(dir, 'db.sqlite'), { timeout: 0 });
    try {
      a.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
      a.exec('INSERT INTO t VALUES (1)');
      const duplicate = failureOfSync(() => a.exec('INSERT INTO t VALUES (1)'));
      assert.match(String((duplicate as { code?: string }).code), /^SQLITE_CONSTRAINT/);
      assert.equal(isOutage(duplicate), false);

      a.exec('BEGIN IMMEDIATE');
      const busy = failureOfSync(() => b.exec('INSERT INTO t VALUES (2)'));
      a.exec('ROLLBACK');
      assert.match(String((busy as { code?: string }).code), /^SQLITE_BUSY/);
      assert.equal(isOutage(busy), true);
    } finally {
      a.close();
      b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Redis: a command against the wrong type is not an outage; a server that does not answer is', async (t) => {
    if (!(await requireRedis(t))) return;
    const redis = new Redis(REDIS_URL);
    const key = `tessera:test:outage:${process.pid}:${Date.now()}`;
    try {
      await redis.set(key, 'a string');
      const wrongType = await failureOf(() => redis.lpush(key, 'x'));
      assert.equal((wrongType as Error).name, 'ReplyError');
      assert.equal(isOutage(wrongType), false);
    } finally {
      await redis.del(key);
      redis.disconnect();
    }

    const port = await freePort();
    const nobody = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    nobody.on('error', () => undefined);
    const unreachable = await failureOf(async () => {
      await nobody.connect();
      await nobody.ping();
    });
    assert.equal(isOutage(unreachable), true, String(unreachable));
    nobody.disconnect();
  });

  it('unavailableOnFailure: an outage becomes 503 unavailable with its cause; anything else is thrown as it came', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const wrapped = await failureOf(() => unavailableOnFailure(() => Promise.reject(refused)));
    assert.ok(wrapped instanceof TesseraError);
    assert.equal(wrapped.code, 'unavailable');
    assert.equal(wrapped.cause, refused);

    const refusedValue = Object.assign(new Error('invalid input syntax for type bigint'), { code: '22P02' });
    assert.equal(await failureOf(() => unavailableOnFailure(() => Promise.reject(refusedValue))), refusedValue);
    const bug = new TypeError('x is not a function');
    assert.equal(await failureOf(() => unavailableOnFailure(() => Promise.reject(bug))), bug);
  });
});
