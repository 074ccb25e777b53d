import * as assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kysely, sql } from 'kysely';
import { sqliteBackend } from './sqlite-backend.js';

test('a SQLite file opens in WAL mode with foreign keys and a busy timeout, creating its folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-sqlite-'));
  const db = new Kysely<Record<string, never>>({ dialect: sqliteBackend(join(dir, 'nested', 'tessera.db')).dialect });
  try {
    const pragma = async (name: string) => (await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(db)).rows[0];
    assert.deepEqual(await pragma('journal_mode'), { journal_mode: 'wal' });
    assert.deepEqual(await pragma('foreign_keys'), { foreign_keys: 1 });
    assert.deepEqual(await pragma('busy_timeout'), { timeout: 5000 });
  } finally {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});

test(':memory: opens without touching the file system', async () => {
  const db = new Kysely<Record<string, never>>({ dialect: sqliteBackend(':memory:').dialect });
  try {
    assert.deepEqual((await sql<{ one: number }>`select 1 as one`.execute(db)).rows, [{ one: 1 }]);
  } finally {
    await db.destroy();
  }
});
