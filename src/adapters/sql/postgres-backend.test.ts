import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { freshPostgresSchema, requirePostgres } from '../../../test/support/services.js';
import { openPersistence } from './open-persistence.js';

test('bigint columns come back as numbers without changing pg for anyone else', async (t) => {
  if (!(await requirePostgres(t))) return;
  const schema = await freshPostgresSchema();
  const db = await openPersistence(schema.url);
  try {
    await db.keys.ensureInitial(2 ** 40);
    assert.equal((await db.keys.listEpochs())[0]?.createdAt, 2 ** 40);
    assert.equal(pg.types.getTypeParser(pg.types.builtins.INT8)('5'), '5', 'the global int8 parser is untouched');
  } finally {
    await db.close();
    await schema.drop();
  }
});
