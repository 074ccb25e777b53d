import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { accountOrders, cpuUse, percentile, receptionWriteCaller, summarizeLatencies, tallyPlacements, type Placement } from './scale-analysis.js';
import { SCALE_OUT_BEGIN, SCALE_OUT_END } from './markers.js';
import { replaceBlock } from '../docs-block.js';

const placed = (over: Partial<Placement> = {}): Placement => ({
  status: 201,
  latencyMs: 1,
  orderId: 'o',
  download: { status: 200, bytes: 10, ms: 1, intact: true },
  error: undefined,
  waited: false,
  ...over,
});

describe('percentile (nearest rank)', () => {
  test('known values', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(ten, 50), 5);
    assert.equal(percentile(ten, 90), 9);
    assert.equal(percentile(ten, 99), 10);
    assert.equal(percentile(ten, 100), 10);
    assert.equal(percentile(ten, 0), 1);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile(ten, 101), RangeError);
    // p99 of 1000 values is the 990th, not the maximum.
    const thousand = Array.from({ length: 1000 }, (_, i) => i + 1);
    assert.equal(percentile(thousand, 99), 990);
  });

  test('at least p % of the values are at or below it, and fewer than p % strictly below', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 100 }), (values, p) => {
        const sorted = [...values].sort((a, b) => a - b);
        const v = percentile(sorted, p);
        const atOrBelow = sorted.filter((x) => x <= v).length;
        const below = sorted.filter((x) => x < v).length;
        return atOrBelow >= (p / 100) * sorted.length && below < (p / 100) * sorted.length;
      }),
    );
  });

  test('summary sorts its input and averages it', () => {
    const s = summarizeLatencies([30, 10, 20]);
    assert.deepEqual(s, { count: 3, p50: 20, p90: 30, p99: 30, max: 30, mean: 20 });
  });
});

describe('tallyPlacements', () => {
  test('201 with an intact download is accepted (also after waiting in line); everything else is an error', () => {
    const t = tallyPlacements([
      placed(),
      placed({ orderId: 'b', waited: true }),
      placed({ status: 503, orderId: 'q', download: undefined, error: 'still in line after 20 checks', waited: true }),
      placed({ status: 503, download: undefined, error: 'unavailable' }),
      placed({ status: 0, orderId: undefined, download: undefined, error: 'ECONNRESET' }),
      placed({ download: { status: 200, bytes: 9, ms: 1, intact: false } }),
      placed({ download: undefined }),
      placed({ status: 429, download: undefined, error: 'rate-limited' }),
    ]);
    assert.equal(t.accepted, 4);
    assert.equal(t.waitedInLine, 1);
    assert.equal(t.errors, 6);
    assert.equal(t.downloads, 3);
    assert.equal(t.downloadBytes, 29);
    assert.equal(t.errorKinds.reduce((s, k) => s + k.count, 0), 6);
  });
});

describe('accountOrders: every 201 must be in the database and completed', () => {
  test('lost, not completed, and orders the client never heard of', () => {
    const a = accountOrders(['a', 'b', 'c', 'd', 'a'], [
      { id: 'a', state: 'completed' },
      { id: 'b', state: 'ticketed' },
      { id: 'c', state: 'expired' },
      { id: 'x', state: 'completed' },
    ]);
    assert.equal(a.accepted, 4, 'an ID reported twice counts once');
    assert.equal(a.lost, 1);
    assert.equal(a.notCompleted, 2);
    assert.deepEqual(a.notCompletedByState, { ticketed: 1, expired: 1 });
    assert.equal(a.unacknowledged, 1);
    assert.deepEqual([...a.examples].sort(), ['b', 'c', 'd']);
  });

  test('all completed: nothing lost (property: lost + notCompleted + completed = accepted)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 50 }), fc.array(fc.constantFrom('completed', 'ticketed', 'expired', undefined), { maxLength: 50 }), (ids, states) => {
        const rows = ids.flatMap((id, i) => (states[i] === undefined ? [] : [{ id, state: states[i] as string }]));
        const a = accountOrders(ids, rows);
        const completed = rows.filter((r) => r.state === 'completed').length;
        return a.lost + a.notCompleted + completed === a.accepted && a.lost === ids.length - rows.length && a.unacknowledged === 0;
      }),
    );
  });
});

describe('cpuUse', () => {
  test('ticks over the window as cores', () => {
    assert.deepEqual(cpuUse([{ name: 'r', before: 100, after: 1100 }, { name: 'gone', before: 50, after: 0 }], 100, 10), [
      { name: 'r', cores: 1 },
      { name: 'gone', cores: 0 },
    ]);
    assert.throws(() => cpuUse([], 100, 0), RangeError);
  });
});

describe('the docs block', () => {
  test('a re-run replaces only its own block', () => {
    const doc = `# Benchmarks\n\nhand-written\n\n${SCALE_OUT_BEGIN}\nold\n${SCALE_OUT_END}\n\nmore hand-written\n`;
    const out = replaceBlock(doc, { begin: SCALE_OUT_BEGIN, end: SCALE_OUT_END }, 'new');
    assert.equal(out, `# Benchmarks\n\nhand-written\n\n${SCALE_OUT_BEGIN}\nnew\n${SCALE_OUT_END}\n\nmore hand-written\n`);
  });
});

describe('receptionWriteCaller', () => {
  test('the nearest library on the stack decides', () => {
    const answer = ['writev ', 'writevGeneric node:internal/stream_base_commons', '_writeGeneric node:net', 'end node:_http_outgoing', 'onSendEnd file:///r/node_modules/fastify/lib/reply.js', 'x node:_http_server'];
    assert.equal(receptionWriteCaller(answer), 'HTTP answers to its clients');
    const query = ['writeUtf8String ', 'write node:net', 'query file:///r/node_modules/pg/lib/client.js', 'handler file:///r/node_modules/fastify/lib/route.js'];
    assert.equal(receptionWriteCaller(query), 'PostgreSQL queries (pg)');
    assert.equal(receptionWriteCaller(['writev ', 'sendCommand file:///r/node_modules/ioredis/built/Redis.js']), 'Redis commands (ioredis)');
    assert.equal(receptionWriteCaller(['writeUtf8String ', 'actualWrite file:///r/node_modules/sonic-boom/index.js', 'x file:///r/node_modules/fastify/lib/reply.js']), 'log lines (pino)');
    assert.equal(receptionWriteCaller(['writev ', 'end node:_http_outgoing', 'request node:_http_client']), 'HTTP requests it sends (notices to content servers)');
    assert.equal(receptionWriteCaller(['writev ', '(root) ']), 'other');
  });
});
