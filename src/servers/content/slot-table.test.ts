import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Notice } from '../../core/control/messages.js';
import { newId } from '../../core/ids.js';
import { SlotTable, type TicketRecord } from './slot-table.js';

const T0 = 1_800_000_000_000;

function table(capacity = 2, idleReleaseMs = 15_000): SlotTable {
  return new SlotTable({ serverId: 'cs-1', capacity, clockToleranceMs: 5000, idleReleaseMs });
}

function notice(overrides: Partial<Notice> = {}): Notice {
  return {
    ticketId: newId(),
    orderId: newId(),
    contentId: newId(),
    notBefore: T0,
    expiresAt: T0 + 300_000,
    holdUntil: T0 + 30_000,
    maxConnections: 2,
    ...overrides,
  };
}

function take(t: SlotTable, n: Notice, size = 100): TicketRecord {
  assert.equal(t.offerNotice(n, size), 'accepted');
  const record = t.get(n.ticketId);
  assert.ok(record);
  return record;
}

describe('SlotTable', () => {
  it('takes at most `capacity` slots and refuses a second notice for the same ticket', () => {
    const t = table(2);
    const a = notice();
    take(t, a);
    take(t, notice());
    assert.equal(t.offerNotice(notice(), 100), 'slots-full');
    assert.equal(t.offerNotice(a, 100), 'notice-conflict');
    assert.equal(t.taken, 2);
  });

  it('counts the bytes a replacement ticket\'s client already holds as delivered: the rest completes it', () => {
    const t = table(1);
    const r = take(t, notice({ heldBytes: 60 }), 100);
    assert.equal(t.beginTransfer(r), 'ok');
    assert.equal(t.recordDelivered(r, 60, 99, T0), undefined, 'one byte still missing');
    const done = t.recordDelivered(r, 99, 100, T0);
    assert.equal(done?.outcome, 'completed');
  });

  it('releases a lapsed hold but keeps the ticket, which takes a slot again when used', () => {
    const t = table(1);
    const n = notice({ holdUntil: T0 + 1000 });
    const r = take(t, n);
    assert.deepEqual(t.sweep(T0 + 999), []);
    assert.equal(t.taken, 1);
    t.sweep(T0 + 1000);
    assert.equal(t.taken, 0);
    assert.equal(r.slot, 'released');
    assert.equal(t.beginTransfer(r), 'ok');
    assert.equal(t.taken, 1);
    assert.equal(r.slot, 'active');
  });

  it('answers no-slot when a released ticket comes back to a full server', () => {
    const t = table(1);
    const r = take(t, notice({ holdUntil: T0 + 1000 }));
    t.sweep(T0 + 1000);
    take(t, notice());
    assert.equal(t.beginTransfer(r), 'no-slot');
    assert.equal(r.openTransfers, 0);
  });

  it('goes idle when the last connection closes and releases after the idle delay', () => {
    const t = table(1, 15_000);
    const r = take(t, notice());
    assert.equal(t.beginTransfer(r), 'ok');
    assert.equal(t.beginTransfer(r), 'ok');
    assert.equal(t.beginTransfer(r), 'too-many-connections');
    t.endTransfer(r, T0 + 10);
    assert.equal(r.slot, 'active');
    t.endTransfer(r, T0 + 20);
    assert.equal(r.slot, 'idle');
    t.sweep(T0 + 20 + 14_999);
    assert.equal(t.taken, 1);
    t.sweep(T0 + 20 + 15_000);
    assert.equal(t.taken, 0);
    assert.equal(r.slot, 'released');
  });

  it('releases at once when the idle delay is zero', () => {
    const t = table(1, 0);
    const r = take(t, notice());
    t.beginTransfer(r);
    t.endTransfer(r, T0);
    assert.equal(t.taken, 0);
  });

  it('consumes a ticket once the union of delivered ranges covers the item, exactly once', () => {
    const t = table(1);
    const n = notice();
    const r = take(t, n, 1000);
    t.beginTransfer(r);
    t.beginTransfer(r);
    assert.equal(t.recordDelivered(r, 500, 1000, T0), undefined);
    assert.equal(t.recordDelivered(r, 0, 300, T0), undefined);
    assert.equal(t.recordDelivered(r, 200, 499, T0), undefined);
    const done = t.recordDelivered(r, 499, 500, T0 + 7);
    assert.deepEqual(done, {
      ticketId: n.ticketId, orderId: n.orderId, contentId: n.contentId, serverId: 'cs-1',
      outcome: 'completed', bytesDelivered: 1000, at: T0 + 7,
    });
    assert.equal(t.taken, 0);
    assert.ok(t.isConsumed(n.ticketId));
    assert.equal(t.get(n.ticketId), undefined);
    assert.equal(t.beginTransfer(r), 'ended');
    assert.equal(t.taken, 0);
    // The other connection still finishing adds nothing and ends nothing.
    assert.equal(t.recordDelivered(r, 0, 1000, T0 + 8), undefined);
    assert.equal(t.endTransfer(r, T0 + 9), undefined);
    assert.equal(t.endTransfer(r, T0 + 9), undefined);
    assert.equal(t.taken, 0);
  });

  it('expires a ticket when its window closes, but not while a connection is still sending', () => {
    const t = table(2);
    const n = notice({ expiresAt: T0 + 60_000 });
    const r = take(t, n, 1000);
    t.beginTransfer(r);
    t.recordDelivered(r, 0, 10, T0);
    assert.deepEqual(t.sweep(T0 + 65_000), []);
    const ended = t.endTransfer(r, T0 + 66_000);
    assert.equal(ended?.outcome, 'expired');
    assert.equal(ended?.bytesDelivered, 10);
    assert.equal(t.taken, 0);

    const unused = notice({ expiresAt: T0 + 60_000 });
    take(t, unused);
    assert.deepEqual(t.sweep(T0 + 64_999), []);
    const [expired] = t.sweep(T0 + 65_000);
    assert.equal(expired?.ticketId, unused.ticketId);
    assert.equal(expired?.outcome, 'expired');
  });

  it('forgets consumed tickets once no request could pass verification any more', () => {
    const t = table(1);
    const n = notice({ expiresAt: T0 + 60_000 });
    const r = take(t, n, 10);
    t.recordDelivered(r, 0, 10, T0);
    assert.ok(t.isConsumed(n.ticketId));
    t.sweep(T0 + 64_999);
    assert.ok(t.isConsumed(n.ticketId));
    t.sweep(T0 + 65_000);
    assert.ok(!t.isConsumed(n.ticketId));
    assert.equal(t.consumedCount, 0);
  });

  it('sweeps a large consumed set after a long clock jump without walking every second', () => {
    const t = table(1);
    t.sweep(T0);
    for (let i = 0; i < 1000; i++) {
      const n = notice({ expiresAt: T0 + 1000 * i + 1 });
      const r = take(t, n, 1);
      t.recordDelivered(r, 0, 1, T0);
    }
    assert.equal(t.consumedCount, 1000);
    t.sweep(T0 + 500_000);
    assert.ok(t.consumedCount > 0 && t.consumedCount < 1000);
    t.sweep(T0 + 10 * 365 * 86_400_000);
    assert.equal(t.consumedCount, 0);
  });

  it('withdraws a notice: slot freed, ticket refused from then on', () => {
    const t = table(1);
    const n = notice();
    take(t, n);
    assert.equal(t.withdrawNotice(n.ticketId), true);
    assert.equal(t.taken, 0);
    assert.ok(t.isConsumed(n.ticketId));
    assert.equal(t.withdrawNotice(n.ticketId), false);
    assert.equal(t.offerNotice(n, 1), 'notice-conflict');
  });

  it('admits an un-noticed ticket only while a slot is free', () => {
    const t = table(1);
    const ticket = { ticketId: newId(), orderId: newId(), contentId: newId(), expiresAtS: T0 / 1000 + 60, maxConnections: 1 };
    const r = t.admitUnnoticed(ticket, 5);
    assert.ok(r);
    assert.equal(r.noticed, false);
    assert.equal(t.admitUnnoticed({ ...ticket, ticketId: newId() }, 5), undefined);
  });

  it('reports the slots it holds', () => {
    const t = table(3);
    const held = take(t, notice({ holdUntil: T0 + 1000 }), 100);
    const active = take(t, notice(), 1000);
    t.beginTransfer(active, T0);
    t.recordFlushed(active, 400);
    t.recordDelivered(active, 0, 400, T0);
    const reports = t.slotReports(T0 + 2000);
    assert.deepEqual(reports.map((s) => [s.ticketId, s.state, s.remainingBytes, s.bytesPerSecond]), [
      [held.ticketId, 'held', 100, 0],
      [active.ticketId, 'active', 600, 200],
    ]);
    assert.equal(reports[0]?.releaseBy, T0 + 1000);
    assert.equal(t.slotReports(T0 + 3000)[1]?.bytesPerSecond, 0, 'nothing flowed in the last second');
  });

  it('reports what is left to send and a rate over at least the last second of flow, capped by the limit', () => {
    const t = new SlotTable({ serverId: 'cs-1', capacity: 1, clockToleranceMs: 5000, idleReleaseMs: 15_000, transferRateBps: 1000 });
    const r = take(t, notice(), 10_000);
    t.slotReports(T0); // a report while only held: no rate sample
    t.beginTransfer(r, T0 + 500);
    // Flushed but unconfirmed bytes count as sent: the slot frees when the sending ends.
    const range = t.openTentative(r, 0);
    const flush = (bytes: number): void => {
      range.end += bytes;
      t.recordFlushed(r, bytes);
    };
    flush(40); // the first tick's worth, and a little more
    let [report] = t.slotReports(T0 + 530);
    assert.equal(report?.remainingBytes, 9960);
    assert.equal(report?.bytesPerSecond, 1000, 'a short, fast start is capped at the limit');
    // Quick reports (50 ms apart) measure over the whole flow so far, not the last 50 ms.
    for (let at = T0 + 580; at <= T0 + 2500; at += 50) {
      flush(50);
      [report] = t.slotReports(at);
    }
    assert.equal(report?.remainingBytes, 10_000 - 40 - 50 * 39);
    assert.ok(report !== undefined && report.bytesPerSecond >= 950 && report.bytesPerSecond <= 1000, String(report?.bytesPerSecond));
    // A pause in flow shows in the rate within about a second.
    [report] = t.slotReports(T0 + 4000);
    assert.equal(report?.bytesPerSecond, 0);
  });

  it('reports a transfer that has only just started at the rate transfers here get, not 0', () => {
    const t = table(2);
    const a = take(t, notice(), 10_000);
    const b = take(t, notice(), 10_000);
    t.beginTransfer(a, T0);
    assert.equal(t.slotReports(T0 + 10).find((s) => s.ticketId === a.ticketId)?.bytesPerSecond, 0, 'nothing known yet');
    t.recordFlushed(a, 500);
    t.slotReports(T0 + 1000);
    t.beginTransfer(b, T0 + 1000);
    t.recordFlushed(b, 10);
    const rate = t.slotReports(T0 + 1020).find((s) => s.ticketId === b.ticketId)?.bytesPerSecond ?? 0;
    assert.ok(rate >= 480 && rate <= 520, `${rate}: about the 500 B/s a got`);
  });

  it('releases the slot of an idle ticket whose bytes were all sent, keeping the ticket unconsumed', () => {
    const t = table(1);
    const r = take(t, notice(), 100);
    t.beginTransfer(r, T0);
    assert.equal(t.releaseSent(r), false, 'not while a connection is open');
    const range = t.openTentative(r, 0);
    range.end = 100;
    t.endTransfer(r, T0 + 10);
    assert.equal(r.slot, 'idle');
    assert.equal(t.releaseSent(r), true);
    assert.equal(t.taken, 0);
    assert.equal(t.isConsumed(r.ticketId), false);
    assert.equal(t.releaseSent(r), false, 'once');
    assert.equal(t.taken, 0);
    // A resume takes a slot again; the evidence, when it comes, consumes the ticket.
    assert.equal(t.beginTransfer(r, T0 + 20), 'ok');
    assert.equal(t.taken, 1);
    assert.equal(t.confirm(r, range, T0 + 30)?.outcome, 'completed');
    assert.equal(t.taken, 0);
  });

  it('tells when the next held or idle slot is due, as of the last sweep', () => {
    const t = table(3);
    take(t, notice({ holdUntil: T0 + 1000 }));
    const idle = take(t, notice({ holdUntil: T0 + 500 }));
    t.beginTransfer(idle, T0);
    t.endTransfer(idle, T0 + 100);
    t.sweep(T0 + 200);
    assert.equal(t.nextSlotDueAt, T0 + 1000);
    t.sweep(T0 + 1000);
    assert.equal(t.nextSlotDueAt, T0 + 100 + 15_000);
    t.sweep(T0 + 100 + 15_000);
    assert.equal(t.nextSlotDueAt, Number.POSITIVE_INFINITY);
  });

  it('counts tentative bytes only when confirmed, wholly or up to a resume offset', () => {
    const t = table(1);
    const n = notice();
    const r = take(t, n, 1000);
    t.beginTransfer(r);
    const first = t.openTentative(r, 0);
    first.end = 1000; // everything flushed, nothing known to have arrived
    assert.equal(r.delivered.bytes, 0);
    assert.equal(t.confirmUpTo(r, 0, T0), undefined);
    assert.equal(t.confirmUpTo(r, 400, T0), undefined);
    assert.equal(r.delivered.bytes, 400);
    assert.deepEqual(first, { start: 400, end: 1000 });
    assert.equal(t.confirmUpTo(r, 1200, T0), undefined, 'an offset past the range proves nothing');
    const second = t.openTentative(r, 400);
    second.end = 1000;
    const done = t.confirm(r, second, T0 + 1);
    assert.equal(done?.outcome, 'completed');
    assert.equal(t.confirm(r, first, T0 + 2), undefined, 'nothing after the end');
  });

  it('waits for evidence of bytes already sent before ending a closed window as expired', () => {
    const t = new SlotTable({ serverId: 'cs-1', capacity: 1, clockToleranceMs: 5000, idleReleaseMs: 15_000, confirmGraceMs: 3000 });
    const n = notice({ expiresAt: T0 + 60_000 });
    const r = take(t, n, 100);
    t.beginTransfer(r);
    const range = t.openTentative(r, 0);
    range.end = 100;
    assert.equal(t.endTransfer(r, T0 + 65_000), undefined);
    assert.equal(t.taken, 0, 'the slot goes with the window');
    assert.deepEqual(t.sweep(T0 + 67_999), []);
    assert.equal(t.confirm(r, range, T0 + 68_000)?.outcome, 'completed');

    const unconfirmed = notice({ expiresAt: T0 + 60_000 });
    const u = take(t, unconfirmed, 100);
    t.openTentative(u, 0).end = 50;
    assert.deepEqual(t.sweep(T0 + 67_999), []);
    const [expired] = t.sweep(T0 + 68_000);
    assert.equal(expired?.outcome, 'expired');
    assert.equal(expired?.bytesDelivered, 0);
  });

  it('keeps `taken` equal to the tickets holding a slot, within capacity, whatever happens', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('notice' as const), hold: fc.integer({ min: 0, max: 5000 }), life: fc.integer({ min: 1000, max: 20_000 }) }),
      fc.record({ kind: fc.constant('begin' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('end' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), start: fc.integer({ min: 0, max: 99 }), length: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ kind: fc.constant('withdraw' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('release-sent' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 8000 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 80 }), (capacity, ops) => {
        const t = new SlotTable({ serverId: 'cs-1', capacity, clockToleranceMs: 1000, idleReleaseMs: 2000 });
        let now = T0;
        const known: TicketRecord[] = [];
        const open = new Map<TicketRecord, number>();
        let completions = 0;
        const ended = new Set<string>();
        const count = (c: { ticketId: string } | undefined): void => {
          if (!c) return;
          assert.ok(!ended.has(c.ticketId), 'a ticket ends once');
          ended.add(c.ticketId);
          completions++;
        };
        for (const o of ops) {
          const pick = (n: number): TicketRecord | undefined => known[n % Math.max(1, known.length)];
          if (o.kind === 'notice') {
            const n = notice({ holdUntil: now + o.hold, expiresAt: now + o.life, notBefore: now });
            if (t.offerNotice(n, 100) === 'accepted') known.push(t.get(n.ticketId) as TicketRecord);
          } else if (o.kind === 'begin') {
            const r = pick(o.pick);
            if (r && !r.ended && now < r.closesAt && t.beginTransfer(r, now) === 'ok') open.set(r, (open.get(r) ?? 0) + 1);
          } else if (o.kind === 'end') {
            const r = pick(o.pick);
            if (r && (open.get(r) ?? 0) > 0) {
              open.set(r, (open.get(r) ?? 0) - 1);
              count(t.endTransfer(r, now));
            }
          } else if (o.kind === 'deliver') {
            const r = pick(o.pick);
            if (r && (open.get(r) ?? 0) > 0) count(t.recordDelivered(r, o.start, Math.min(100, o.start + o.length), now));
          } else if (o.kind === 'withdraw') {
            const r = pick(o.pick);
            if (r && (open.get(r) ?? 0) === 0 && t.withdrawNotice(r.ticketId)) ended.add(r.ticketId);
          } else if (o.kind === 'release-sent') {
            const r = pick(o.pick);
            if (r) t.releaseSent(r);
          } else {
            now += o.ms;
            for (const c of t.sweep(now)) count(c);
          }
          const holding = [...t.records()].filter((r) => r.slot !== 'released').length;
          assert.equal(t.taken, holding);
          assert.ok(t.taken >= 0 && t.taken <= capacity);
        }
        assert.ok(completions <= known.length);
      }),
      { numRuns: 300 },
    );
  });
});
