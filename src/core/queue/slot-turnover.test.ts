import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SlotReport } from '../control/messages.js';
import type { SlotOccupancy } from './slot-overhead.js';
import { SlotTurnover, type TurnoverMeasurements } from './slot-turnover.js';

const T0 = Date.UTC(2026, 0, 1);
const MiB = 2 ** 20;

function slot(ticketId: string, state: SlotReport['state'], remainingBytes: number, bytesPerSecond = 0): SlotReport {
  return { ticketId, state, remainingBytes, bytesPerSecond, releaseBy: T0 + 60_000 };
}

/** What the tracker measured, as the SlotOverhead would be told. */
class Measured implements TurnoverMeasurements {
  readonly occupancies: SlotOccupancy[] = [];
  readonly reassignments: number[] = [];
  recordOccupancy(o: SlotOccupancy): void {
    this.occupancies.push(o);
  }
  recordReassignment(freedAt: number, admittedAt: number): void {
    this.reassignments.push(admittedAt - freedAt);
  }
  get samples(): number {
    return this.occupancies.length;
  }
  /** Each occupancy's overhead (release seen − admitted − assumed transfer) and time after the last byte. */
  get overheads(): [number, number | undefined][] {
    return this.occupancies.map((o) => [o.releasedAt - o.admittedAt - o.transferMs, o.transferEndAt === undefined ? undefined : o.releasedAt - o.transferEndAt]);
  }
}

function fresh() {
  const overhead = new Measured();
  return { overhead, turnover: new SlotTurnover(overhead) };
}

describe('SlotTurnover', () => {
  it('measures a slot from admission to the first report without it: overhead and time after the last byte', () => {
    const { overhead, turnover } = fresh();
    turnover.admitted({ ticketId: 't1', serverId: 'cs-1', at: T0, transferMs: 1000, fromLine: false });
    turnover.report('cs-1', [], T0 + 5); // sent before the notice arrived: says nothing
    turnover.report('cs-1', [slot('t1', 'held', MiB)], T0 + 20);
    turnover.report('cs-1', [slot('t1', 'active', MiB / 2, MiB)], T0 + 560); // ends at 1060
    turnover.report('cs-1', [slot('t1', 'active', MiB / 4, MiB)], T0 + 820); // ends at 1070
    turnover.report('cs-1', [slot('t1', 'idle', 0)], T0 + 1150);
    assert.equal(overhead.samples, 0);
    turnover.report('cs-1', [], T0 + 1300);
    assert.deepEqual(overhead.overheads, [[300, 230]], '1300 ms taken for a 1000 ms transfer, released (as seen) 230 ms after its predicted end');
    // The completion that follows changes nothing.
    turnover.completed('t1', T0 + 1400, true);
    assert.equal(overhead.samples, 1);
    assert.equal(turnover.tracked, 0);
  });

  it('takes the completion as the release when it comes before any report shows the slot gone', () => {
    const { overhead, turnover } = fresh();
    turnover.admitted({ ticketId: 't1', serverId: 'cs-1', at: T0, transferMs: 100, fromLine: false });
    turnover.report('cs-1', [slot('t1', 'active', MiB / 10, MiB)], T0 + 50); // ends at 150
    turnover.completed('t1', T0 + 180, true);
    turnover.report('cs-1', [], T0 + 200);
    assert.deepEqual(overhead.overheads, [[80, 30]]);
  });

  it('measures a transfer too short for any report to see only when its completion says it was delivered', () => {
    const a = fresh();
    a.turnover.admitted({ ticketId: 't1', serverId: 'cs-1', at: T0, transferMs: 5, fromLine: false });
    a.turnover.completed('t1', T0 + 40, true);
    assert.deepEqual(a.overhead.overheads, [[35, undefined]], 'nothing measured after the last byte');

    // Held, then gone without a transfer: a hold that lapsed. The slot is free, but its time says nothing about turnover.
    const b = fresh();
    b.turnover.admitted({ ticketId: 't2', serverId: 'cs-1', at: T0, transferMs: 1000, fromLine: false });
    b.turnover.report('cs-1', [slot('t2', 'held', MiB)], T0 + 100);
    b.turnover.report('cs-1', [], T0 + 30_000);
    b.turnover.completed('t2', T0 + 300_000, false);
    assert.equal(b.overhead.samples, 0);
    assert.equal(b.turnover.tracked, 0);
  });

  it('measures how long a freed slot waits for the next client in line, per server', () => {
    const { overhead, turnover } = fresh();
    for (const [id, server] of [['a', 'cs-1'], ['b', 'cs-2']] as const) {
      turnover.admitted({ ticketId: id, serverId: server, at: T0, transferMs: 1000, fromLine: false });
      turnover.report(server, [slot(id, 'active', MiB, MiB)], T0 + 10);
    }
    turnover.report('cs-1', [], T0 + 1200);
    turnover.report('cs-2', [], T0 + 1250);
    // The next in line goes to cs-2 first (40 ms after it freed), then to cs-1 (100 ms after).
    turnover.admitted({ ticketId: 'c', serverId: 'cs-2', at: T0 + 1290, transferMs: 1000, fromLine: true });
    turnover.admitted({ ticketId: 'd', serverId: 'cs-1', at: T0 + 1300, transferMs: 1000, fromLine: true });
    assert.deepEqual(overhead.reassignments, [40, 100]);
    // A third admission on cs-1 has no freed slot to pair with.
    turnover.admitted({ ticketId: 'e', serverId: 'cs-1', at: T0 + 5000, transferMs: 1000, fromLine: true });
    assert.deepEqual(overhead.reassignments, [40, 100]);
  });

  it('forgets freed slots when the line empties: nobody was waiting for them', () => {
    const { overhead, turnover } = fresh();
    turnover.admitted({ ticketId: 'a', serverId: 'cs-1', at: T0, transferMs: 1000, fromLine: false });
    turnover.report('cs-1', [slot('a', 'active', MiB, MiB)], T0 + 10);
    turnover.report('cs-1', [], T0 + 1100);
    turnover.lineEmpty();
    turnover.admitted({ ticketId: 'b', serverId: 'cs-1', at: T0 + 1500, transferMs: 1000, fromLine: true });
    assert.deepEqual(overhead.reassignments, []);
  });

  it('stays bounded: slots never heard of again are forgotten', () => {
    const turnover = new SlotTurnover(new Measured(), { maxTracked: 100, forgetAfterMs: 60_000 });
    for (let i = 0; i < 1000; i++) turnover.admitted({ ticketId: `t${i}`, serverId: 'cs-1', at: T0 + i, transferMs: 10, fromLine: false });
    assert.ok(turnover.tracked <= 100);
    turnover.admitted({ ticketId: 'late', serverId: 'cs-1', at: T0 + 120_000, transferMs: 10, fromLine: false });
    assert.equal(turnover.tracked, 1);
  });
});
