import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultDatabaseUrl, parseDatabaseUrl } from './database-url.js';

test('sqlite URLs, bare paths and :memory: name a SQLite file', () => {
  assert.deepEqual(parseDatabaseUrl('sqlite:./data/tessera.db'), { kind: 'sqlite', file: './data/tessera.db' });
  assert.deepEqual(parseDatabaseUrl('sqlite:/var/lib/tessera.db'), { kind: 'sqlite', file: '/var/lib/tessera.db' });
  assert.deepEqual(parseDatabaseUrl('sqlite:///var/lib/tessera.db'), { kind: 'sqlite', file: '/var/lib/tessera.db' });
  assert.deepEqual(parseDatabaseUrl('sqlite::memory:'), { kind: 'sqlite', file: ':memory:' });
  assert.deepEqual(parseDatabaseUrl(':memory:'), { kind: 'sqlite', file: ':memory:' });
  assert.deepEqual(parseDatabaseUrl('data/tessera.db'), { kind: 'sqlite', file: 'data/tessera.db' });
});

test('postgres:// and postgresql:// name PostgreSQL', () => {
  for (const url of ['postgres://u:p@db:5432/tessera', 'postgresql://db/tessera', 'POSTGRES://db/x']) {
    assert.deepEqual(parseDatabaseUrl(url), { kind: 'postgres', url });
  }
});

test('an unsupported or empty URL is a TypeError that does not repeat the URL', () => {
  assert.throws(() => parseDatabaseUrl('mysql://root:hunter2@db/x'), (e: unknown) => e instanceof TypeError && !e.message.includes('hunter2'));
  assert.throws(() => parseDatabaseUrl(''), TypeError);
  assert.throws(() => parseDatabaseUrl('sqlite:'), TypeError);
});

test('the default database is tessera.db in the data directory', () => {
  assert.equal(defaultDatabaseUrl('./data'), `sqlite:${join('./data', 'tessera.db')}`);
  assert.deepEqual(parseDatabaseUrl(defaultDatabaseUrl('/srv/tessera')), { kind: 'sqlite', file: '/srv/tessera/tessera.db' });
});
