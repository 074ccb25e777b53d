import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../config/env.js';
import { nginxEntry } from './nginx-entry.js';
import { processPlan } from './process-plan.js';
import { parseTopology, publicPortOf, receptionControlUrls } from './topology.js';

const servers = [
  { id: 'cs-1', publicPort: 8081, controlPort: 9101 },
  { id: 'cs-2', publicPort: 8082, controlPort: 9102 },
];

describe('topology files', () => {
  it('still takes the one-reception form', () => {
    const t = parseTopology(JSON.stringify({ reception: { publicPort: 8080, controlPort: 9100 }, contentServers: servers }), 't.json');
    assert.deepEqual(t.receptions, [{ publicPort: 8080, controlPort: 9100 }]);
    assert.equal(t.entry, undefined);
    assert.equal(publicPortOf(t), 8080);
  });

  it('takes several receptions behind an entry, and a shared database', () => {
    const t = parseTopology(
      JSON.stringify({
        receptions: [
          { publicPort: 8091, controlPort: 9191 },
          { publicPort: 8092, controlPort: 9192 },
        ],
        entry: { publicPort: 8080 },
        databaseUrl: 'postgres://postgres@127.0.0.1:5432/tessera',
        contentServers: servers,
      }),
      't.json',
    );
    assert.equal(publicPortOf(t), 8080);
    assert.deepEqual(receptionControlUrls(t), ['http://127.0.0.1:9191', 'http://127.0.0.1:9192']);
    const plan = processPlan(t, '/data', '/data/secret.key', Buffer.alloc(32, 7), { PATH: '/usr/bin' });
    assert.deepEqual(
      plan.map((p) => [p.name, p.role]),
      [
        ['reception-1', 'reception'],
        ['reception-2', 'reception'],
        ['cs-1', 'content'],
        ['cs-2', 'content'],
        ['entry', 'entry'],
      ],
    );
    const cs = plan.find((p) => p.name === 'cs-1');
    assert.equal(cs?.env['TESSERA_RECEPTION_CONTROL_URL'], 'http://127.0.0.1:9191,http://127.0.0.1:9192');
    assert.equal(cs?.env['TESSERA_DATABASE_URL'], undefined, 'content servers never see the database');
    assert.equal(cs?.env['TESSERA_SECRET_FILE'], undefined, 'content servers never see the root secret');
    const r = plan.find((p) => p.name === 'reception-2');
    assert.equal(r?.env['TESSERA_DATABASE_URL'], 'postgres://postgres@127.0.0.1:5432/tessera');
    assert.equal(r?.env['TESSERA_TRUST_PROXY'], 'true');
    const entry = nginxEntry(t, '/data');
    assert.match(entry?.config ?? '', /listen 127\.0\.0\.1:8080/);
    assert.match(entry?.config ?? '', /server 127\.0\.0\.1:8091 /);
    assert.match(entry?.config ?? '', /server 127\.0\.0\.1:8092 /);
    assert.doesNotMatch(entry?.config ?? '', /proxy_next_upstream[^;]*http_503/, 'a 503 (a place in line) is an answer, never retried elsewhere');
  });

  it('gives a Redis URL to every process, content servers included, and a stable reception name', () => {
    const t = parseTopology(
      JSON.stringify({
        receptions: [
          { publicPort: 8091, controlPort: 9191 },
          { publicPort: 8092, controlPort: 9192 },
        ],
        entry: { publicPort: 8080 },
        databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
        redisUrl: 'redis://127.0.0.1:6379/0',
        contentServers: servers,
      }),
      't.json',
    );
    assert.equal(t.redisUrl, 'redis://127.0.0.1:6379/0');
    const plan = processPlan(t, '/data', '/data/secret.key', Buffer.alloc(32, 7), { PATH: '/usr/bin' });
    for (const p of plan.filter((x) => x.role !== 'entry')) assert.equal(p.env['TESSERA_REDIS_URL'], 'redis://127.0.0.1:6379/0', p.name);
    assert.equal(plan.find((p) => p.name === 'reception-2')?.env['TESSERA_RECEPTION_ID'], 'reception-2');
    assert.equal(plan.find((p) => p.name === 'cs-1')?.env['TESSERA_DATABASE_URL'], undefined, 'content servers never see the database');
    assert.throws(() => parseTopology(JSON.stringify({ reception: { publicPort: 8080, controlPort: 9100 }, redisUrl: 'http://x', contentServers: servers }), 't.json'), /redisUrl/);
    // The servers' own check (redis-url.ts): a database past 15 fails here, not at their start.
    assert.throws(() => parseTopology(JSON.stringify({ reception: { publicPort: 8080, controlPort: 9100 }, redisUrl: 'redis://127.0.0.1:6379/16', contentServers: servers }), 't.json'), /redisUrl.*database number/);
  });

  it('refuses several receptions without an entry, a port used twice, and both forms at once', () => {
    const two = [
      { publicPort: 8091, controlPort: 9191 },
      { publicPort: 8092, controlPort: 9192 },
    ];
    const bad = [
      [{ receptions: two, contentServers: servers }, /entry/],
      [{ receptions: two, entry: { publicPort: 8081 }, contentServers: servers }, /once/],
      [{ reception: two[0], receptions: two, entry: { publicPort: 8080 }, contentServers: servers }, /not both/],
      [{ receptions: [], contentServers: servers }, /non-empty/],
      [{ receptions: two, entry: { publicPort: 8080, balancer: 'haproxy' }, contentServers: servers }, /nginx/],
      [{ reception: two[0], databaseUrl: 'mysql://x', contentServers: servers }, /databaseUrl/],
    ] as const;
    for (const [topology, message] of bad) {
      assert.throws(
        () => parseTopology(JSON.stringify(topology), 't.json'),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        JSON.stringify(topology),
      );
    }
  });
});
