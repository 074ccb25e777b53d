import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../core/ids.js';
import { openPersistence } from './open-persistence.js';

test('an in-memory database opens migrated and works', async () => {
  for (const url of [':memory:', 'sqlite::memory:']) {
    const db = await openPersistence(url);
    try {
      await db.keys.ensureInitial(1);
      assert.equal((await db.keys.listEpochs()).length, 1);
      assert.equal(await db.catalogue.getContent(newId()), undefined);
    } finally {
      await db.close();
    }
  }
});

test('migrate: false opens without creating tables', async () => {
  const db = await openPersistence(':memory:', { migrate: false });
  try {
    await db.ping();
    await assert.rejects(db.keys.listEpochs(), /no such table/);
  } finally {
    await db.close();
  }
});

test('an unsupported URL is refused before anything opens', async () => {
  await assert.rejects(openPersistence('mysql://db/x'), TypeError);
});

test('an unreachable PostgreSQL fails at open, not at the first query', async () => {
  await assert.rejects(openPersistence('postgres://tessera@127.0.0.1:1/none'), /ECONNREFUSED/);
});
