import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { REDIS_URL, requireRedis } from '../../../test/support/services.js';
import { ManualClock, systemClock } from '../../core/clock.js';
import { receptionSeal } from '../redis/seal-from-control-token.js';
import { dropRedisSpace, freshRedisPrefix } from '../redis/testing/redis-test-space.js';
import { openSharedState } from './open-shared-state.js';

test('without a Redis URL every port is in-process; asking twice gives the same adapter', async () => {
  const state = openSharedState({ clock: new ManualClock() });
  const board = await state.board();
  assert.equal(board, await state.board());
  for (const port of [board, await state.ledger(), await state.line(), await state.channel()]) {
    assert.equal(port.capabilities.crossProcess, false);
  }
  await state.close();
});

test('a Redis URL gives the Redis adapters, which need a seal', async (t) => {
  assert.throws(() => openSharedState({ clock: systemClock, redisUrl: REDIS_URL }), TypeError);
  assert.throws(() => openSharedState({ clock: systemClock, redisUrl: 'http://x', seal: receptionSeal(randomBytes(32)) }), TypeError);
  if (!(await requireRedis(t))) return;
  const prefix = freshRedisPrefix();
  const state = openSharedState({ clock: systemClock, redisUrl: REDIS_URL, prefix, seal: receptionSeal(randomBytes(32)), onError: () => undefined });
  t.after(async () => {
    await state.close();
    await dropRedisSpace(REDIS_URL, prefix);
  });
  for (const port of [await state.board(), await state.ledger(), await state.line(), await state.channel()]) {
    assert.equal(port.capabilities.crossProcess, true);
  }
});
