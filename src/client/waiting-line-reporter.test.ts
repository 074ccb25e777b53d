import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { WaitingLineReporter } from './waiting-line-reporter.js';

function capture(isTTY: boolean): { stream: { isTTY: boolean; columns: number; write(text: string): boolean }; text: () => string } {
  let out = '';
  return { stream: { isTTY, columns: 120, write: (t: string) => ((out += t), true) }, text: () => out };
}

const waiting = (at: number, position: number, estimatedWaitS: number | undefined, nextInMs: number) =>
  ({ type: 'waiting', orderId: 'o', position, lineLength: 40, estimatedWaitS, answeredAt: at, retryAt: at + nextInMs, checks: 1 }) as const;

test('on a TTY the line is redrawn in place and both countdowns tick; admission rings the bell', () => {
  let now = 1_000_000;
  const { stream, text } = capture(true);
  const line = new WaitingLineReporter({ stream, prefix: 'x: ', now: () => now, autoTick: false });
  line.update(waiting(now, 7, 12, 3000));
  now += 1000;
  line.tick();
  now += 2500;
  line.tick();
  line.update(waiting(now, 2, 0.5, 3000));
  now += 1000;
  line.tick();
  line.admitted({ type: 'admitted', orderId: 'o', waitedMs: 42_000, checks: 3 });
  const frames = text().split('\r').filter(Boolean);
  assert.deepEqual(frames, [
    'waiting in line: position 7 of 40, about 0:12 left (next check in 0:03)\x1b[K',
    'waiting in line: position 7 of 40, about 0:11 left (next check in 0:02)\x1b[K',
    'waiting in line: position 7 of 40, about 0:09 left (checking now)\x1b[K',
    'waiting in line: position 2 of 40, about 0:01 left (next check in 0:03)\x1b[K',
    'waiting in line: position 2 of 40, any moment now (next check in 0:02)\x1b[K',
    '\x1b[K\x07x: admitted after 0:42 — downloading\n',
  ]);
  assert.equal(line.waiting, false);
});

test('elsewhere one plain line per answer, no ticking, no bell; an unknown estimate is left out', () => {
  const now = 5_000;
  const { stream, text } = capture(false);
  const line = new WaitingLineReporter({ stream, now: () => now, autoTick: false });
  line.update(waiting(now, 3, undefined, 1000));
  line.tick();
  line.retrying({ type: 'retrying', code: 'rate-limited', reason: 'Too many orders from this address; slow down', retryAt: now + 2000, attempt: 1, maxAttempts: 5 });
  line.admitted({ type: 'admitted', orderId: 'o', waitedMs: 1500, checks: 2 });
  assert.equal(
    text(),
    'waiting in line: position 3 of 40 (next check in 0:01)\n' +
      'too many orders from this address; slow down (rate-limited); trying again in 0:02 (1 of 5)\n' +
      'admitted after 0:02 — downloading\n',
  );
});
