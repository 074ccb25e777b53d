import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRedisUrl } from './redis-url.js';

test('TESSERA_REDIS_URL: redis:// or rediss://, a host, an optional database number', () => {
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6379'), { url: 'redis://127.0.0.1:6379', tls: false, db: 0 });
  assert.deepEqual(parseRedisUrl('rediss://user:pw@cache.internal:6380/3'), { url: 'rediss://user:pw@cache.internal:6380/3', tls: true, db: 3 });
  for (const bad of ['', 'localhost:6379', 'http://127.0.0.1:6379', 'redis://127.0.0.1/16', 'redis://127.0.0.1/x', 'redis:///0']) {
    assert.throws(() => parseRedisUrl(bad), TypeError, bad);
  }
  assert.throws(() => parseRedisUrl('http://user:hunter2@h'), (e: Error) => e instanceof TypeError && !e.message.includes('hunter2'));
});
