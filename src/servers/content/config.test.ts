import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadContentServerConfig } from './config.js';

const base = {
  TESSERA_SERVER_ID: 'cs-1',
  TESSERA_PUBLIC_PORT: '8081',
  TESSERA_CONTROL_PORT: '9101',
  TESSERA_RECEPTION_CONTROL_URL: 'http://127.0.0.1:9100/',
  TESSERA_CONTROL_TOKEN: 'cs-1.abcdefghijklmnopqrstuvwxyz',
  TESSERA_STORE_DIR: '/tmp/store',
};

describe('loadContentServerConfig', () => {
  it('applies the defaults and freezes the result', () => {
    const config = loadContentServerConfig(base);
    assert.ok(Object.isFrozen(config));
    assert.equal(config.publicHost, '127.0.0.1');
    assert.equal(config.publicUrl, undefined);
    assert.deepEqual(config.receptionControlUrls, ['http://127.0.0.1:9100']);
    assert.equal(config.capacity, 8);
    assert.equal(config.reportIntervalMs, 1000);
    assert.equal(config.reportOnChange, true);
    assert.equal(config.area, 'local');
    assert.equal(config.cost, 0);
    assert.equal(config.noticeMode, 'required');
    assert.equal(config.clockToleranceS, 5);
    assert.equal(config.idleReleaseMs, 15_000);
    assert.equal(config.deliveryMode, 'node');
    assert.equal(config.accelPrefix, '/_tessera_accel');
  });

  it('takes several receptions, comma-separated, and refuses one listed twice', () => {
    const config = loadContentServerConfig({ ...base, TESSERA_RECEPTION_CONTROL_URL: 'http://10.0.0.1:9100/, http://10.0.0.2:9100' });
    assert.deepEqual(config.receptionControlUrls, ['http://10.0.0.1:9100', 'http://10.0.0.2:9100']);
    assert.throws(
      () => loadContentServerConfig({ ...base, TESSERA_RECEPTION_CONTROL_URL: 'http://10.0.0.1:9100,http://10.0.0.1:9100/' }),
      (error: unknown) => error instanceof ConfigError && /TESSERA_RECEPTION_CONTROL_URL/.test(error.message) && /twice/.test(error.message),
    );
  });

  it('names every bad setting, and never shows the token', () => {
    const bad = {
      ...base,
      TESSERA_SERVER_ID: 'CS_1',
      TESSERA_PUBLIC_PORT: '70000',
      TESSERA_CAPACITY: '0',
      TESSERA_NOTICE_MODE: 'sometimes',
      TESSERA_CLOCK_TOLERANCE_S: '61',
      TESSERA_DELIVERY_MODE: 'carrier-pigeon',
      TESSERA_RECEPTION_CONTROL_URL: 'ftp://x',
      TESSERA_ACCEL_PREFIX: '/a/../b',
      TESSERA_CONTROL_TOKEN: 'cs-9.supersecretsupersecret',
    };
    assert.throws(
      () => loadContentServerConfig(bad),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        for (const name of ['TESSERA_SERVER_ID', 'TESSERA_PUBLIC_PORT', 'TESSERA_CAPACITY', 'TESSERA_NOTICE_MODE', 'TESSERA_CLOCK_TOLERANCE_S', 'TESSERA_DELIVERY_MODE', 'TESSERA_RECEPTION_CONTROL_URL', 'TESSERA_ACCEL_PREFIX', 'TESSERA_CONTROL_TOKEN']) {
          assert.match(error.message, new RegExp(name), name);
        }
        assert.doesNotMatch(error.message, /supersecret/);
        return true;
      },
    );
  });

  it('requires the settings that have no default', () => {
    assert.throws(() => loadContentServerConfig({}), /TESSERA_SERVER_ID is required.*TESSERA_PUBLIC_PORT is required.*TESSERA_STORE_DIR is required/);
  });

  it('reads the per-ticket bandwidth limit: none by default, at least 1 KiB/s when set', () => {
    assert.equal(loadContentServerConfig(base).transferRateBps, 0);
    assert.equal(loadContentServerConfig({ ...base, TESSERA_TRANSFER_RATE_BPS: '262144' }).transferRateBps, 262_144);
    assert.equal(loadContentServerConfig({ ...base, TESSERA_TRANSFER_RATE_BPS: '0' }).transferRateBps, 0);
    for (const bad of ['100', '-1', '1.5', '1e6', 'fast']) {
      assert.throws(() => loadContentServerConfig({ ...base, TESSERA_TRANSFER_RATE_BPS: bad }), /TESSERA_TRANSFER_RATE_BPS/, bad);
    }
  });

  it('reads whether to report on slot changes: true, 1, false or 0, nothing else', () => {
    assert.equal(loadContentServerConfig({ ...base, TESSERA_REPORT_ON_CHANGE: 'false' }).reportOnChange, false);
    assert.equal(loadContentServerConfig({ ...base, TESSERA_REPORT_ON_CHANGE: '1' }).reportOnChange, true);
    assert.throws(() => loadContentServerConfig({ ...base, TESSERA_REPORT_ON_CHANGE: 'sometimes' }), /TESSERA_REPORT_ON_CHANGE/);
  });

  it('refuses a control token issued for another server', () => {
    assert.throws(() => loadContentServerConfig({ ...base, TESSERA_CONTROL_TOKEN: 'cs-2.abcdefghijklmnopqrstuvwxyz' }), /TESSERA_CONTROL_TOKEN was issued for another server/);
  });
  it('with Redis, needs no reception URL, and never repeats a bad Redis URL (it may hold a password)', () => {
    const { TESSERA_RECEPTION_CONTROL_URL: _dropped, ...withoutReception } = base;
    assert.throws(() => loadContentServerConfig(withoutReception), /TESSERA_RECEPTION_CONTROL_URL is required/);
    const config = loadContentServerConfig({ ...withoutReception, TESSERA_REDIS_URL: 'redis://127.0.0.1:6379', TESSERA_REDIS_PREFIX: 'shop-a:' });
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(config.redisPrefix, 'shop-a:');
    assert.deepEqual(config.receptionControlUrls, []);
    assert.throws(
      () => loadContentServerConfig({ ...base, TESSERA_REDIS_URL: 'redis://:secret-pw@host:6379/99' }),
      (error: unknown) => error instanceof ConfigError && /TESSERA_REDIS_URL/.test(error.message) && !error.message.includes('secret-pw'),
    );
  });
});
