import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../core/clock.js';
import type { LoadReport } from '../../core/control/messages.js';
import { ServerRegistry } from './server-registry.js';

const staleness = { missedReports: 3, minStaleMs: 500, maxStaleMs: 30_000 };

function report(serverId: string, clock: ManualClock, seq: number, overrides: Partial<LoadReport> = {}): LoadReport {
  return {
    serverId,
    publicUrl: `http://127.0.0.1:1/${serverId}`,
    controlUrl: `http://127.0.0.1:2/${serverId}`,
    location: { area: 'local', cost: 1 },
    capacity: 4,
    slotsTaken: 0,
    activeTransfers: 0,
    bytesPerSecond: 0,
    memory: { rssBytes: 50 << 20, heapUsedBytes: 10 << 20 },
    slots: [],
    keySetVersion: 'v1',
    sentAt: clock.now(),
    seq,
    intervalMs: 1000,
    draining: false,
    ...overrides,
  };
}

describe('ServerRegistry health', () => {
  it('takes a silent server out after three of its intervals, and back when it reports', () => {
    const clock = new ManualClock();
    const registry = new ServerRegistry(clock, { staleness });
    assert.equal(registry.record(report('cs-1', clock, 1)), true, 'a new server');
    assert.equal(registry.get('cs-1')?.staleAfterMs, 3000);
    clock.advance(3000);
    assert.equal(registry.get('cs-1')?.health, 'healthy');
    assert.equal(registry.candidates(['cs-1']).length, 1);
    clock.advance(1);
    assert.equal(registry.get('cs-1')?.health, 'stale');
    assert.deepEqual(registry.candidates(['cs-1']), [], 'a stale server is not offered to the selection');
    assert.deepEqual(registry.liveServerIds(), []);
    assert.equal(registry.totalCapacity(), 0);
    assert.equal(registry.record(report('cs-1', clock, 2)), true, 'coming back counts as new (replicas are synced again)');
    assert.equal(registry.get('cs-1')?.health, 'healthy');
    assert.equal(registry.candidates(['cs-1'])[0]?.draining, false);
  });

  it('measures each server by the interval it announces', () => {
    const clock = new ManualClock();
    const registry = new ServerRegistry(clock, { staleness });
    registry.record(report('fast', clock, 1, { intervalMs: 100 }));
    registry.record(report('slow', clock, 1, { intervalMs: 5000 }));
    registry.record(report('quiet', clock, 1, { intervalMs: undefined }));
    assert.equal(registry.get('fast')?.staleAfterMs, 500, 'the floor');
    assert.equal(registry.get('slow')?.staleAfterMs, 15_000);
    assert.equal(registry.get('quiet')?.staleAfterMs, 30_000, 'no interval: the ceiling');
    clock.advance(10_000);
    assert.deepEqual(registry.liveServerIds(), ['quiet', 'slow']);
  });

  it('drains: no new tickets, draining while work is left, drained when none; undrain waits for the server to agree', () => {
    const clock = new ManualClock();
    const registry = new ServerRegistry(clock, { staleness });
    registry.record(report('cs-1', clock, 1, { slotsTaken: 1, activeTransfers: 1 }));
    registry.drain('cs-1', clock.now());
    assert.equal(registry.isDrained('cs-1'), true);
    assert.equal(registry.get('cs-1')?.health, 'draining');
    assert.equal(registry.candidates(['cs-1'])[0]?.draining, true);
    assert.equal(registry.totalCapacity(), 0);
    assert.deepEqual(registry.status().servers[0]?.drain, { by: 'operator', since: clock.now(), acknowledged: false });

    clock.advance(100);
    registry.record(report('cs-1', clock, 2, { draining: true }));
    assert.equal(registry.get('cs-1')?.health, 'drained');
    assert.equal(registry.status().servers[0]?.drain?.acknowledged, true);

    registry.undrain('cs-1');
    assert.equal(registry.isDrained('cs-1'), false);
    assert.equal(registry.get('cs-1')?.eligible, false, 'its last report still says it refuses notices');
    assert.deepEqual(registry.status().servers[0]?.drain, { by: 'server', since: null, acknowledged: true });
    clock.advance(100);
    registry.record(report('cs-1', clock, 3));
    assert.equal(registry.get('cs-1')?.health, 'healthy');
    assert.equal(registry.status().servers[0]?.drain, null);
  });

  it('counts a notice made since the last report as work left on a drained server', () => {
    const clock = new ManualClock();
    const registry = new ServerRegistry(clock, { staleness });
    registry.record(report('cs-1', clock, 1));
    clock.advance(10);
    registry.noteNotice('cs-1', 't-1', 1000, clock.now());
    registry.drain('cs-1', clock.now());
    assert.equal(registry.get('cs-1')?.health, 'draining');
  });

  it('knows drained servers that have not reported since a restart, and no others', () => {
    const clock = new ManualClock();
    const registry = new ServerRegistry(clock, { staleness });
    registry.setDrains([{ serverId: 'cs-9', since: 1 }]);
    assert.equal(registry.knows('cs-9'), true);
    assert.equal(registry.knows('cs-8'), false);
    assert.deepEqual(registry.status().servers, []);
  });

  it('drops a read of the drains that began before a drain changed here', () => {
    const clock = new ManualClock();
    const registry = new ServerRegistry(clock, { staleness });
    const version = registry.drainsVersion;
    registry.drain('cs-1', 5);
    assert.equal(registry.setDrains([], version), false);
    assert.equal(registry.isDrained('cs-1'), true);
    assert.equal(registry.setDrains([], registry.drainsVersion), true);
    assert.equal(registry.isDrained('cs-1'), false);
  });
});

describe('ServerRegistry candidates', () => {
  it('passes the report and this reception’s own work since apart, as the policies read them', () => {
    const clock = new ManualClock(1_000_000);
    const registry = new ServerRegistry(clock, { staleness });
    registry.record(
      report('cs-1', clock, 1, {
        location: { area: 'b', cost: 80 },
        slotsTaken: 1,
        slots: [{ ticketId: 't-old', state: 'active', remainingBytes: 10, bytesPerSecond: 100, releaseBy: clock.now() + 1000 }],
      }),
    );
    clock.advance(10);
    registry.noteNotice('cs-1', 't-new-1', 1000, clock.now());
    registry.noteNotice('cs-1', 't-new-2', 1000, clock.now());
    registry.noteRelease('cs-1', 't-old');
    const [c] = registry.candidates(['cs-1']);
    assert.deepEqual(
      { ...c },
      {
        serverId: 'cs-1',
        capacity: 4,
        reportedTaken: 1,
        pendingNotices: 2,
        releasesSinceReport: 1,
        refusedSinceReport: false,
        reportedSlotsFreeAt: [],
        draining: false,
        reportedAt: 1_000_000,
        area: 'b',
        cost: 80,
        slotsTaken: 2,
      },
    );
    registry.noteFull('cs-1');
    assert.equal(registry.candidates(['cs-1'])[0]?.refusedSinceReport, true);
    assert.equal(registry.candidates(['cs-1'])[0]?.slotsTaken, 4, 'the waiting room counts a refused server as full');
  });

  it('forecasts when each reported slot frees, from the report’s own figures, in this reception’s clock', () => {
    const clock = new ManualClock(1_000_000);
    const registry = new ServerRegistry(clock, { staleness });
    const sent = report('cs-1', clock, 1, {
      capacity: 8,
      slotsTaken: 5,
      slots: [
        // 2,000 bytes left at 1,000 bytes/s: 2 s.
        { ticketId: 't-active', state: 'active', remainingBytes: 2000, bytesPerSecond: 1000, releaseBy: clock.now() + 60_000 },
        // A client not connected yet: its 6,000 bytes at the rate transfers get here (1,000 bytes/s).
        { ticketId: 't-held', state: 'held', remainingBytes: 6000, bytesPerSecond: 0, releaseBy: clock.now() + 30_000 },
        // Would take 100 s, but the ticket expires in 4 s.
        { ticketId: 't-expiring', state: 'active', remainingBytes: 100_000, bytesPerSecond: 1000, releaseBy: clock.now() + 4000 },
        // Its connection closed; the slot is released after the idle delay unless it resumes.
        { ticketId: 't-idle', state: 'idle', remainingBytes: 500, bytesPerSecond: 0, releaseBy: clock.now() + 1500 },
      ],
    });
    // The report arrives 20 ms after it was sent, by a server clock 5 s behind ours.
    clock.advance(20);
    registry.record({ ...sent, sentAt: sent.sentAt - 5000, slots: sent.slots.map((s) => ({ ...s, releaseBy: s.releaseBy - 5000 })) });
    const at = 1_000_020;
    const freeAt = (): number[] => [...(registry.candidates(['cs-1'])[0]?.reportedSlotsFreeAt ?? [])].sort((a, b) => a - b);
    // Four listed, and a fifth counted but not listed (a report lists at most 1,000): taken until the next report.
    assert.deepEqual(freeAt(), [at + 1500, at + 2000, at + 4000, at + 6000, Infinity]);
    registry.noteRelease('cs-1', 't-held');
    assert.deepEqual(freeAt(), [at + 1500, at + 2000, at + 4000, Infinity], 'a slot heard to end is no longer forecast');
  });
});

describe('ServerRegistry slot count between reports', () => {
  const slot = (ticketId: string, clock: ManualClock) => ({ ticketId, state: 'active' as const, remainingBytes: 10, bytesPerSecond: 100, releaseBy: clock.now() + 1000 });

  it('frees the slot of a ticket noticed and ended between two reports', () => {
    const clock = new ManualClock(1_000_000);
    const registry = new ServerRegistry(clock, { staleness });
    registry.record(report('cs-1', clock, 1));
    clock.advance(5);
    for (let i = 0; i < 4; i++) registry.noteNotice('cs-1', `t-${i}`, 1000, clock.now());
    assert.equal(registry.get('cs-1')?.slotsTaken, 4, 'four notices since the report fill it');
    registry.noteRelease('cs-1', 't-1');
    registry.noteRelease('cs-1', 't-2');
    assert.equal(registry.get('cs-1')?.slotsTaken, 2, 'two of them ended before any report showed them');
    registry.noteRelease('cs-1', 't-2');
    assert.equal(registry.get('cs-1')?.slotsTaken, 2, 'a completion heard twice frees one slot');
  });

  it('counts an ended ticket once when a report sent before it ended arrives after its completion', () => {
    const clock = new ManualClock(1_000_000);
    const registry = new ServerRegistry(clock, { staleness });
    registry.record(report('cs-1', clock, 1));
    clock.advance(5);
    registry.noteNotice('cs-1', 't-a', 1000, clock.now());
    registry.noteNotice('cs-1', 't-b', 1000, clock.now());
    clock.advance(5);
    // The server sends a report showing both; before it arrives, t-a's completion does.
    const sent = report('cs-1', clock, 2, { slotsTaken: 2, slots: [slot('t-a', clock), slot('t-b', clock)] });
    clock.advance(5);
    registry.noteRelease('cs-1', 't-a');
    assert.equal(registry.get('cs-1')?.slotsTaken, 1);
    registry.record(sent);
    assert.equal(registry.get('cs-1')?.slotsTaken, 1, 'the report shows t-a, which has ended since');
    // The next report no longer shows t-a: nothing left to subtract.
    clock.advance(50);
    registry.record(report('cs-1', clock, 3, { slotsTaken: 1, slots: [slot('t-b', clock)] }));
    assert.equal(registry.get('cs-1')?.slotsTaken, 1);
    registry.noteRelease('cs-1', 't-b');
    assert.equal(registry.get('cs-1')?.slotsTaken, 0);
  });

  it('does not free a slot for a ticket it never counted', () => {
    const clock = new ManualClock(1_000_000);
    const registry = new ServerRegistry(clock, { staleness });
    registry.record(report('cs-1', clock, 1, { slotsTaken: 1, slots: [slot('t-x', clock)] }));
    registry.noteRelease('cs-1', 't-elsewhere');
    assert.equal(registry.get('cs-1')?.slotsTaken, 1);
  });
});

describe('ServerRegistry start-up', () => {
  it('counts its age from start and wakes a caller waiting for the next report', async () => {
    const clock = new ManualClock();
    const registry = new ServerRegistry(clock, { staleness });
    assert.equal(registry.upForMs, 0);
    clock.advance(250);
    assert.equal(registry.upForMs, 250);
    let woke = false;
    const waiting = registry.nextReport(60_000).then(() => (woke = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, false, 'nothing reported yet');
    registry.record(report('cs-1', clock, 1));
    await waiting;
    assert.equal(woke, true);
  });

  it('gives up waiting for a report after the timeout', async () => {
    const registry = new ServerRegistry(new ManualClock(), { staleness });
    const started = performance.now();
    const keepAlive = setTimeout(() => undefined, 1000); // the wait's own timer does not hold the process open
    await registry.nextReport(30);
    clearTimeout(keepAlive);
    assert.ok(performance.now() - started >= 25);
  });
});
