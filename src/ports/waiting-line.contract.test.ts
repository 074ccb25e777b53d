import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryWaitingLine } from '../adapters/memory/memory-waiting-line.js';
import { RedisWaitingLine } from '../adapters/redis/redis-waiting-line.js';
import { newId } from '../core/ids.js';
import { SharedStateLost } from './shared-state-lost.js';
import type { LineEntry, WaitingLine } from './waiting-line.js';
import { eventually, memoryBackend, redisBackend, runContract, type ContractSpace } from './testing/contract-space.js';

// One contract, every adapter: the in-process line and the Redis line. Times are passed in
// (`now`), so these cases do not depend on any clock.

const T0 = Date.UTC(2026, 0, 1);

const CONTENTS = [newId(), newId()];

function entries(n: number, returnBy = T0 + 60_000, firstSeq = 1): LineEntry[] {
  return Array.from({ length: n }, (_, i) => ({ orderId: newId(), contentId: CONTENTS[i % 2] as string, seq: firstSeq + i, returnBy }));
}

async function built(s: ContractSpace<WaitingLine>): Promise<WaitingLine> {
  const line = s.open();
  await line.rebuild([]);
  return line;
}

const cases: Readonly<Record<string, (s: ContractSpace<WaitingLine>) => Promise<void>>> = {
  async 'a new line answers only once built from the order store'(s) {
    const line = s.open();
    const [a] = entries(1);
    await assert.rejects(line.join(a as LineEntry), SharedStateLost);
    await assert.rejects(line.length(T0), SharedStateLost);
    await assert.rejects(line.front(T0, 10), SharedStateLost);
    await assert.rejects(line.position(a?.orderId ?? '', T0), SharedStateLost);
    await line.rebuild([a as LineEntry]);
    assert.equal(await s.open().length(T0), 1, 'built for every handle');
  },

  async 'the line keeps arrival order across handles: front, positions, length'(s) {
    await built(s);
    const reception1 = s.open();
    const reception2 = s.open();
    const line = entries(5);
    // Joined out of order by two receptions: the arrival number orders the line, not the join.
    for (const i of [1, 0, 4, 2, 3]) await (i % 2 === 0 ? reception1 : reception2).join(line[i] as LineEntry);
    assert.deepEqual(await reception1.front(T0, 10), line);
    assert.deepEqual(await reception2.front(T0, 2), line.slice(0, 2));
    assert.equal(await reception2.position(line[3]?.orderId ?? '', T0), 4);
    assert.equal(await reception1.length(T0), 5);
    assert.equal(await reception1.position(newId(), T0), undefined);
    assert.equal(await reception1.join(line[0] as LineEntry), false, 'joining again keeps the place');
    assert.equal(await reception1.join({ ...(line[0] as LineEntry), seq: 99 }), false);
    assert.equal(await reception1.position(line[0]?.orderId ?? '', T0), 1);
    await assert.rejects(reception1.join({ orderId: newId(), contentId: newId(), seq: 0, returnBy: T0 }), TypeError);
    await assert.rejects(reception1.join({ orderId: newId(), contentId: newId(), seq: 1.5, returnBy: T0 }), TypeError);
    await assert.rejects(reception1.join({ orderId: newId(), contentId: '', seq: 50, returnBy: T0 }), TypeError);
    await assert.rejects(reception1.front(T0, 0), TypeError);
  },

  async 'removing an order moves everyone behind it up'(s) {
    const q = await built(s);
    const line = entries(4);
    for (const e of line) await q.join(e);
    assert.equal(await q.remove(line[1]?.orderId ?? ''), true);
    assert.equal(await q.remove(line[1]?.orderId ?? ''), false);
    assert.equal(await q.position(line[1]?.orderId ?? '', T0), undefined);
    assert.equal(await q.position(line[3]?.orderId ?? '', T0), 3);
    assert.equal(await q.remove(line[0]?.orderId ?? ''), true);
    assert.deepEqual((await q.front(T0, 1)).map((e) => e.orderId), [line[2]?.orderId]);
    assert.equal(await q.length(T0), 2);
  },

  async 'clients who do not come back lapse: skipped, then taken out in arrival order'(s) {
    const q = await built(s);
    const line = entries(5, T0 + 10_000);
    for (const e of line) await q.join(e);
    // The 2nd, 4th and 5th come back in time; the 1st and 3rd do not.
    for (const i of [1, 3, 4]) assert.equal(await q.touch(line[i]?.orderId ?? '', T0 + 30_000, T0 + 9_000), true);
    const later = T0 + 20_000;
    assert.equal(await q.length(later), 3);
    assert.deepEqual((await q.front(later, 10)).map((e) => e.orderId), [1, 3, 4].map((i) => line[i]?.orderId));
    assert.deepEqual(await q.front(later, 1), [{ ...(line[1] as LineEntry), returnBy: T0 + 30_000 }]);
    assert.equal(await q.position(line[3]?.orderId ?? '', later), 2, 'lapsed orders ahead do not count');
    assert.equal(await q.position(line[0]?.orderId ?? '', later), undefined);
    assert.equal(await q.touch(line[2]?.orderId ?? '', T0 + 40_000, later), false, 'a lapsed place is gone');
    assert.equal(await q.touch(newId(), T0 + 40_000, later), false);
    const lapsed = await q.removeLapsed(later, 1);
    assert.deepEqual(lapsed, [line[0]]);
    assert.deepEqual(await q.removeLapsed(later, 10), [line[2]]);
    assert.deepEqual(await q.removeLapsed(later, 10), []);
    assert.equal(await q.position(line[4]?.orderId ?? '', later), 3);
    assert.equal(await q.length(T0 + 31_000), 0, 'everyone lapses in the end');
  },

  async 'concurrent joins from several receptions keep every order, in arrival order'(s) {
    await built(s);
    const handles = [s.open(), s.open(), s.open()];
    const line = entries(30);
    const results = await Promise.all(line.map((e, i) => (handles[i % 3] as WaitingLine).join(e)));
    assert.ok(results.every(Boolean));
    assert.deepEqual((await (handles[0] as WaitingLine).front(T0, 100)).map((e) => e.seq), line.map((e) => e.seq));
  },

  async 'the line reads page by page after an arrival number, skipping lapsed orders'(s) {
    const q = await built(s);
    const line = entries(10, T0 + 60_000);
    await q.rebuild(line);
    await q.touch(line[4]?.orderId ?? '', T0 + 1_000, T0);
    const later = T0 + 2_000;
    const pages: LineEntry[][] = [];
    let afterSeq = 0;
    for (;;) {
      const page = await q.after(afterSeq, later, 3);
      if (page.length === 0) break;
      pages.push([...page]);
      afterSeq = page.at(-1)?.seq ?? afterSeq;
    }
    assert.deepEqual(pages.map((p) => p.map((e) => e.seq)), [[1, 2, 3], [4, 6, 7], [8, 9, 10]]);
    assert.deepEqual(pages[0]?.[1], line[1], 'each entry carries its item');
    assert.deepEqual(await q.after(10, later, 5), []);
    assert.deepEqual((await q.after(2.5, later, 1)).map((e) => e.seq), [3]);
  },

  async 'a long line: front skips lapsed orders beyond the first page'(s) {
    const q = await built(s);
    const lapsing = entries(150, T0 + 1_000);
    const staying = entries(20, T0 + 60_000, 151);
    await q.rebuild([...lapsing, ...staying]);
    assert.deepEqual((await q.front(T0 + 5_000, 5)).map((e) => e.seq), [151, 152, 153, 154, 155]);
    assert.equal(await q.position(staying[19]?.orderId ?? '', T0 + 5_000), 20);
    assert.equal(await q.length(T0 + 5_000), 20);
  },

  async 'rebuild merges: nobody is lost or doubled, and the later return time wins'(s) {
    const q = await built(s);
    const line = entries(4);
    await q.join(line[0] as LineEntry);
    await q.join({ ...(line[2] as LineEntry), returnBy: T0 + 90_000 });
    // Two receptions rebuild from the order store at once, while a third order joins.
    await Promise.all([s.open().rebuild(line), s.open().rebuild(line.slice(0, 3)), q.join(line[3] as LineEntry)]);
    const front = await q.front(T0, 10);
    assert.deepEqual(front.map((e) => e.orderId), line.map((e) => e.orderId));
    assert.equal(front[2]?.returnBy, T0 + 90_000);
    assert.equal(await q.length(T0), 4);
    await assert.rejects(q.rebuild([{ orderId: newId(), contentId: newId(), seq: -1, returnBy: T0 }]), TypeError);
  },

  async 'one reception at a time has the admission turn, until it gives it back or its time runs out'(s) {
    const reception1 = s.open();
    const reception2 = s.open();
    // Racing handles on separate connections may be served in any order: exactly one wins.
    const race = await Promise.all([reception1.takeTurn('r0', 60_000), reception2.takeTurn('r9', 60_000)]);
    assert.equal(race.filter(Boolean).length, 1, 'one of two racing receptions takes the turn');
    await (race[0] ? reception1.endTurn('r0') : reception2.endTurn('r9'));
    assert.equal(await reception1.takeTurn('r1', 60_000), true, 'free again once given back');
    const results = await Promise.all([reception2.takeTurn('r2', 60_000), reception2.takeTurn('r3', 60_000)]);
    assert.deepEqual(results, [false, false], 'refused to the others while held');
    assert.equal(await reception2.takeTurn('r1', 300), true, 'the holder renews it, from any handle');
    await reception2.endTurn('r2');
    assert.equal(await reception2.takeTurn('r2', 60_000), false, 'ending a turn one does not hold changes nothing');
    await reception1.endTurn('r1');
    assert.equal(await reception2.takeTurn('r2', 200), true);
    await s.advance(400);
    assert.equal(await reception1.takeTurn('r1', 60_000), true, 'a holder that died loses the turn when its time runs out');
    await assert.rejects(reception1.takeTurn('r1', 0), TypeError);
  },

  async 'after the store lost the line, it refuses to answer until rebuilt'(s) {
    const q = await built(s);
    if (!q.capabilities.losesStateOnStoreRestart || s.lose === undefined) return;
    let lost = 0;
    q.onLost(() => lost++);
    const line = entries(3);
    for (const e of line) await q.join(e);
    await s.lose();
    await assert.rejects(q.length(T0), SharedStateLost);
    await assert.rejects(q.join(entries(1, T0, 4)[0] as LineEntry), SharedStateLost, 'a newcomer cannot jump an emptied line');
    assert.ok(await eventually(() => lost === 1));
    await q.rebuild(line);
    assert.deepEqual(await q.front(T0, 10), line);
    assert.equal(lost, 1);
  },
};

runContract<WaitingLine>(
  'waiting line',
  [
    memoryBackend((clock) => ({ first: new MemoryWaitingLine(clock), share: (l) => (l as MemoryWaitingLine).share() })),
    redisBackend((o) => new RedisWaitingLine({ ...o, lossCheckMs: 50, onError: () => undefined })),
  ],
  cases,
  test,
);
