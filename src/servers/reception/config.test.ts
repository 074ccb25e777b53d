import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadReceptionConfig } from './config.js';

const base: NodeJS.ProcessEnv = { TESSERA_SECRET: randomBytes(32).toString('base64url'), TESSERA_DATA_DIR: '/tmp/tessera-config-test' };

describe('reception configuration: server selection', () => {
  it('defaults to the default policy and a band of a tenth of capacity', () => {
    const config = loadReceptionConfig(base);
    assert.equal(config.selectionPolicy, 'default');
    assert.equal(config.equalLoadBand, 0.1);
  });

  it('takes every policy name, blanks around ignored', () => {
    for (const name of ['round-robin', 'random', 'least-loaded', 'best-of-two', 'default']) {
      assert.equal(loadReceptionConfig({ ...base, TESSERA_SELECTION_POLICY: ` ${name} ` }).selectionPolicy, name);
    }
    assert.equal(loadReceptionConfig({ ...base, TESSERA_EQUAL_LOAD_BAND: '0.25' }).equalLoadBand, 0.25);
    assert.equal(loadReceptionConfig({ ...base, TESSERA_EQUAL_LOAD_BAND: '0' }).equalLoadBand, 0);
  });

  it('fails at start on an unknown policy or a band outside 0..1, naming the setting', () => {
    assert.throws(() => loadReceptionConfig({ ...base, TESSERA_SELECTION_POLICY: 'p2c' }), /TESSERA_SELECTION_POLICY.*expected one of round-robin, random/);
    assert.throws(() => loadReceptionConfig({ ...base, TESSERA_EQUAL_LOAD_BAND: '1.5' }), /TESSERA_EQUAL_LOAD_BAND/);
    assert.throws(() => loadReceptionConfig({ ...base, TESSERA_EQUAL_LOAD_BAND: '-0.1' }), /TESSERA_EQUAL_LOAD_BAND/);
    assert.throws(() => loadReceptionConfig({ ...base, TESSERA_EQUAL_LOAD_BAND: 'ten' }), /TESSERA_EQUAL_LOAD_BAND/);
  });
});

describe('reception configuration: shared state on Redis', () => {
  it('is off by default, and takes a URL, a prefix and a name', () => {
    const off = loadReceptionConfig(base);
    assert.equal(off.redisUrl, undefined);
    assert.equal(off.redisPrefix, undefined);
    const on = loadReceptionConfig({ ...base, TESSERA_REDIS_URL: 'redis://:pw@10.0.0.5:6379/2', TESSERA_REDIS_PREFIX: 'shop-a:', TESSERA_RECEPTION_ID: 'reception-2' });
    assert.equal(on.redisUrl, 'redis://:pw@10.0.0.5:6379/2');
    assert.equal(on.redisPrefix, 'shop-a:');
    assert.equal(on.receptionId, 'reception-2');
  });

  it('fails at start on a bad URL without repeating it (it may hold a password), and on a bad prefix or name', () => {
    assert.throws(
      () => loadReceptionConfig({ ...base, TESSERA_REDIS_URL: 'http://:secret-pw@host:6379' }),
      (error: unknown) => error instanceof Error && /TESSERA_REDIS_URL/.test(error.message) && !error.message.includes('secret-pw'),
    );
    assert.throws(() => loadReceptionConfig({ ...base, TESSERA_REDIS_PREFIX: 'has space' }), /TESSERA_REDIS_PREFIX/);
    assert.throws(() => loadReceptionConfig({ ...base, TESSERA_RECEPTION_ID: 'a/b' }), /TESSERA_RECEPTION_ID/);
  });
});

describe('reception configuration: behind a proxy', () => {
  it('trusts X-Forwarded-For for true or 1 only, and refuses other spellings at start', () => {
    assert.equal(loadReceptionConfig(base).trustProxy, false);
    assert.equal(loadReceptionConfig({ ...base, TESSERA_TRUST_PROXY: 'true' }).trustProxy, true);
    assert.equal(loadReceptionConfig({ ...base, TESSERA_TRUST_PROXY: '1' }).trustProxy, true);
    assert.equal(loadReceptionConfig({ ...base, TESSERA_TRUST_PROXY: '0' }).trustProxy, false);
    assert.throws(() => loadReceptionConfig({ ...base, TESSERA_TRUST_PROXY: 'yes' }), /TESSERA_TRUST_PROXY/);
  });
});
