import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RevocationLog } from './revocation-log.js';

describe('RevocationLog', () => {
  it('keeps each revocation until its window closes, once per ticket with its latest window', () => {
    const log = new RevocationLog();
    log.add('a', 1_000, 0);
    log.add('b', 5_000, 0);
    log.add('a', 2_000, 10);
    assert.deepEqual(
      log.open(500).sort((x, y) => x.ticketId.localeCompare(y.ticketId)),
      [
        { ticketId: 'a', forgetAt: 2_000 },
        { ticketId: 'b', forgetAt: 5_000 },
      ],
    );
    assert.deepEqual(log.open(2_000), [{ ticketId: 'b', forgetAt: 5_000 }], 'a window closed at 2000');
    assert.deepEqual(log.open(5_000), []);
  });
});
