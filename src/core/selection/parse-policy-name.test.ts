import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { parsePolicyName } from './parse-policy-name.js';
import { policyNames } from './policy-name.js';

describe('parsePolicyName', () => {
  it('reads every policy name, ignoring surrounding blanks', () => {
    for (const name of policyNames) {
      assert.equal(parsePolicyName(name), name);
      assert.equal(parsePolicyName(` ${name}\n`), name);
    }
  });

  it('refuses anything else, naming what would have worked', () => {
    for (const bad of ['', 'roundrobin', 'Round-Robin', 'least_loaded', 'p2c', 'default ,random']) {
      assert.throws(
        () => parsePolicyName(bad),
        (error: unknown) =>
          error instanceof TypeError &&
          error.message.includes(`"${bad}"`) &&
          error.message.includes('round-robin, random, least-loaded, best-of-two, default'),
      );
    }
  });
});
