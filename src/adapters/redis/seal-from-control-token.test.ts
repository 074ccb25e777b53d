import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { controlToken } from '../../core/ticket/ticket-keys.js';
import { openMessage, sealMessage } from './message-seal.js';
import { contentServerSeal, receptionSeal } from './seal-from-control-token.js';

test('a reception and a content server agree on the content server\'s key, and on no other', () => {
  const root = randomBytes(32);
  const reception = receptionSeal(root);
  const cs1 = contentServerSeal(controlToken(root, 'cs-1'));
  assert.deepEqual(reception.keyFor('cs-1'), cs1.keyFor('cs-1'));
  assert.equal(cs1.keyFor('cs-2'), undefined);
  assert.notDeepEqual(reception.keyFor('cs-2'), reception.keyFor('cs-1'));
  assert.notDeepEqual(receptionSeal(randomBytes(32)).keyFor('cs-1'), cs1.keyFor('cs-1'), 'another deployment');
  const wire = sealMessage(cs1, 'cs-1', 'report', 'sign');
  assert.equal(openMessage(reception, 'cs-1', wire, 'sign'), 'report');
  assert.throws(() => contentServerSeal('no-dot'), TypeError);
});
