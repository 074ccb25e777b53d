import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clientAddress, crowdPlan } from './crowd-types.js';
import { inversions, quantile, ranks, relativeError, spearman } from './crowd-stats.js';
import { CROWD_BEGIN, CROWD_END, replaceCrowdBlock } from './docs-block.js';
import { estimateChartSvg } from './estimate-chart.js';

// The flash-crowd bench's pure parts. The bench itself runs real processes for minutes
// (`npm run bench:crowd`); what it computes from its records is checked here.

describe('flash-crowd statistics', () => {
  test('nearest-rank quantiles', () => {
    const list = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(quantile(list, 0.5), 5);
    assert.equal(quantile(list, 0.9), 9);
    assert.equal(quantile(list, 1), 10);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  test('relative error floors tiny actual waits', () => {
    assert.equal(relativeError(11, 10), 0.1);
    assert.equal(relativeError(0.2, 0), 2);
  });

  test('inversions count strict pairs only', () => {
    // Arrival numbers 1..4 admitted at 10, 10, 30, 20: (3, 4) is the one pair out of order; the tie (1, 2) is not.
    const items = [
      { order: 1, at: 10 },
      { order: 2, at: 10 },
      { order: 3, at: 30 },
      { order: 4, at: 20 },
    ];
    assert.equal(inversions(items), 1);
    // Pairs whose arrivals are at most 1 apart are not counted with a gap of 1.
    assert.equal(inversions(items, 1), 0);
    assert.equal(inversions([...items].reverse()), 1);
  });

  test('ranks share ties; Spearman is 1 for the same order and −1 for the reverse', () => {
    assert.deepEqual(ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1]);
    assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
    assert.equal(spearman([1, 2, 3, 4], [40, 30, 20, 10]), -1);
  });
});

describe('the crowd', () => {
  test('the same seed gives the same crowd; arrivals fall in the window', () => {
    const config = { clients: 500, arrivalWindowMs: 3000, seed: 7, items: [{ id: 'a', size: 1 }, { id: 'b', size: 2 }] };
    const a = crowdPlan(config);
    assert.deepEqual(a, crowdPlan(config));
    assert.ok(a.every((p) => p.offsetMs >= 0 && p.offsetMs < 3000));
    assert.deepEqual(new Set(a.map((p) => p.itemIndex)), new Set([0, 1]));
  });

  test('every client has its own loopback address', () => {
    const addresses = new Set(Array.from({ length: 5000 }, (_, i) => clientAddress(i)));
    assert.equal(addresses.size, 5000);
    assert.equal(clientAddress(0), '127.0.1.1');
    assert.equal(clientAddress(250), '127.0.2.1');
    assert.ok([...addresses].every((a) => /^127\.0\.\d{1,3}\.\d{1,3}$/.test(a) && !a.endsWith('.0') && !a.endsWith('.255')));
  });
});

describe('docs and chart', () => {
  test('the generated block replaces only its own markers, or is appended', () => {
    const other = '<!-- bench:results:begin -->\nkeep me\n<!-- bench:results:end -->';
    const first = replaceCrowdBlock(`# Benchmarks\n\n${other}\n`, 'one');
    assert.ok(first.includes(other));
    assert.ok(first.trimEnd().endsWith(`${CROWD_BEGIN}\none\n${CROWD_END}`));
    const second = replaceCrowdBlock(`${first}\nhand-written notes\n`, 'two');
    assert.ok(second.includes(`${CROWD_BEGIN}\ntwo\n${CROWD_END}`));
    assert.ok(!second.includes('\none\n'));
    assert.ok(second.includes('hand-written notes'));
    assert.ok(second.includes(other));
  });

  test('the chart is one SVG document with both series', () => {
    const points = [
      { actualS: 10, oursS: 9.5, baselineS: 400, position: 100 },
      { actualS: 20, oursS: 21, baselineS: null, position: 200 },
    ];
    const svg = estimateChartSvg({ title: 'A & B', subtitle: 's', first: points, all: points });
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('A &amp; B'));
    assert.ok(svg.includes('#1f5fbf') && svg.includes('#e07b00'));
    assert.ok(svg.includes('1 above 100 s (▲ top edge)'));
  });
});
