import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { serverKeySet } from '../../core/ticket/ticket-keys.js';
import { KeyRing } from './key-ring.js';

describe('KeyRing', () => {
  const root = randomBytes(32);
  const epochs = [
    { kid: 1, createdAt: 0, supersededAt: 10, retiresAt: 20 },
    { kid: 2, createdAt: 10, supersededAt: null, retiresAt: null },
  ];

  it('holds nothing until a key set arrives, then answers per kid', () => {
    const ring = new KeyRing();
    assert.equal(ring.lookup(2), undefined);
    assert.equal(ring.install(serverKeySet(root, 'cs-1', epochs, 30)), true);
    assert.equal(ring.lookup(1), 'retired');
    const key = ring.lookup(2);
    assert.ok(key !== undefined && key !== 'retired');
    assert.equal(key.secret.length, 32);
    assert.equal(ring.lookup(3), undefined);
    assert.equal(ring.install(serverKeySet(root, 'cs-1', epochs, 30)), false);
    // Same kids from another root: a different set, installed.
    assert.equal(ring.install(serverKeySet(randomBytes(32), 'cs-1', epochs, 30)), true);
  });

  it('refuses a malformed set and keeps the one it had', () => {
    const ring = new KeyRing();
    ring.install(serverKeySet(root, 'cs-1', epochs, 30));
    const good = serverKeySet(root, 'cs-1', epochs, 30);
    const bad: unknown[] = [
      null,
      { ...good, keys: [{ kid: 2, secret: 'short' }] },
      { ...good, keys: [{ kid: -1, secret: good.keys[0]?.secret }] },
      { ...good, keys: [{ kid: 2, secret: `${good.keys[0]?.secret}=` }] },
      { ...good, retired: ['1'] },
      { ...good, version: 7 },
    ];
    for (const set of bad) assert.throws(() => ring.install(set), TypeError);
    assert.equal(ring.version, good.version);
    assert.equal(ring.size, 1);
  });
});
