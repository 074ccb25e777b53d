import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../core/clock.js';
import { newId } from '../../core/ids.js';
import { mintTicket, type TicketClaims } from '../../core/ticket/ticket.js';
import { deriveTicketKey } from '../../core/ticket/ticket-keys.js';
import { problemCode, send, startHarness, T0, type Harness, type Reply } from './content-test-harness.js';

// The HTTP-level tampering matrix: every forged, altered, misdirected or stale ticket is refused
// with its own stable code, as problem+json, and the connection is dropped (R7).

async function assertRefused(reply: Reply, status: number, codes: readonly string[], what: string): Promise<void> {
  assert.equal(reply.status, status, what);
  assert.ok(codes.includes(problemCode(reply) ?? ''), `${what}: got ${problemCode(reply)}, expected ${codes.join(' | ')}`);
  assert.equal(reply.headers['connection'], 'close', what);
  assert.equal(await reply.closed, true, `${what}: connection dropped`);
}

describe('ticket tampering over HTTP', () => {
  let h: Harness;
  let clock: ManualClock;
  let contentId: string;
  const path = (ticket: string): string => `${h.publicUrl}/t/${ticket}/${contentId}/item.bin`;

  before(async () => {
    clock = new ManualClock(T0);
    h = await startHarness({ clock, env: { TESSERA_CAPACITY: '1000' } });
    contentId = await h.putReplica(randomBytes(2000));
  });
  after(() => h.close());

  it('refuses a flipped bit in every byte of the ticket, with the code of the part it hit', async () => {
    const { ticket, url } = await h.issue(contentId);
    const bytes = Buffer.from(ticket, 'base64url');
    const audienceLength = bytes[5] ?? 0;
    const nonceStart = 6 + audienceLength;
    const bodyStart = nonceStart + 12;
    const tagStart = bytes.length - 16;
    const expected = (i: number): readonly string[] => {
      if (i === 0) return ['ticket-unsupported'];
      if (i <= 4) return ['ticket-unknown-key'];
      if (i === 5) return ['ticket-malformed', 'ticket-wrong-server'];
      if (i < nonceStart) return ['ticket-wrong-server'];
      return ['ticket-invalid']; // nonce, ciphertext and tag are all authenticated
    };
    assert.ok(bodyStart < tagStart);
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const forged = Buffer.from(bytes);
        forged[i] = (forged[i] ?? 0) ^ mask;
        const text = forged.toString('base64url');
        await assertRefused(await send(path(text)), 403, expected(i), `byte ${i} ^ ${mask}`);
      }
    }
    // Nothing above disturbed the genuine ticket.
    assert.equal((await send(url)).status, 200);
  });

  it('refuses a ticket sealed for another content server', async () => {
    const claims = baseClaims(contentId, clock, { audience: 'cs-other' });
    const forged = mintTicket(claims, deriveTicketKey(h.root, 1, 'cs-other'));
    await assertRefused(await send(path(forged)), 403, ['ticket-wrong-server'], 'other audience');
    // Even sealed with this server's own key, another audience is refused.
    const confused = mintTicket(claims, deriveTicketKey(h.root, 1, h.serverId));
    await assertRefused(await send(path(confused)), 403, ['ticket-wrong-server'], 'other audience, own key');
  });

  it('refuses expired and not-yet-valid tickets, within the clock tolerance', async () => {
    const nowS = Math.floor(clock.now() / 1000);
    const expired = await h.issue(contentId, { notBeforeS: nowS - 1000, lifetimeS: 995, notice: false });
    await assertRefused(await send(expired.url), 403, ['ticket-expired'], 'expired 5 s ago');
    const future = await h.issue(contentId, { notBeforeS: nowS + 6, notice: false });
    await assertRefused(await send(future.url), 403, ['ticket-not-yet-valid'], 'valid in 6 s');
    const soon = await h.issue(contentId, { notBeforeS: nowS + 5 });
    assert.equal((await send(soon.url, { method: 'HEAD' })).status, 200, 'valid in 5 s is within the tolerance');

    // The same ticket, seen again after time moved on: the cached verdict is re-checked.
    const short = await h.issue(contentId, { lifetimeS: 10 });
    assert.equal((await send(short.url, { headers: { range: 'bytes=0-0' } })).status, 206);
    clock.advance(15_000);
    await assertRefused(await send(short.url, { headers: { range: 'bytes=1-1' } }), 403, ['ticket-expired'], 'expired while cached');
    clock.set(T0);
  });

  it('refuses an unknown key ID and, after rotation, a retired one', async () => {
    const unknown = await h.issue(contentId, { kid: 99, notice: false });
    await assertRefused(await send(unknown.url), 403, ['ticket-unknown-key'], 'kid 99');

    const old = await h.issue(contentId, { kid: 1 });
    assert.equal((await send(old.url, { method: 'HEAD' })).status, 200);
    assert.equal((await send(old.url, { headers: { range: 'bytes=0-0' } })).status, 206);
    h.reception.epochs = [
      { kid: 1, createdAt: clock.now() - 120_000, supersededAt: clock.now() - 60_000, retiresAt: clock.now() - 1 },
      { kid: 2, createdAt: clock.now() - 60_000, supersededAt: null, retiresAt: null },
    ];
    await h.server.state.reportNow();
    assert.deepEqual(h.server.state.keys.kids, [2]);
    // Refused although its verdict was cached before the rotation.
    await assertRefused(await send(old.url, { headers: { range: 'bytes=1-1' } }), 403, ['ticket-key-retired'], 'retired kid');
    const fresh = await h.issue(contentId, { kid: 2 });
    assert.equal((await send(fresh.url)).status, 200);
    h.reception.epochs = [{ kid: 1, createdAt: clock.now() - 60_000, supersededAt: null, retiresAt: null }];
    await h.server.state.reportNow();
  });

  it('refuses every ticket while it holds no keys', async () => {
    const valid = await h.issue(contentId);
    const saved = h.reception.epochs;
    h.reception.epochs = [];
    await h.server.state.reportNow();
    assert.equal(h.server.state.keys.size, 0);
    await assertRefused(await send(valid.url), 403, ['ticket-unknown-key'], 'no keys');
    h.reception.epochs = saved;
    await h.server.state.reportNow();
    assert.equal((await send(valid.url)).status, 200);
  });

  it('refuses algorithm confusion: another version byte, a JWT, a JWT with alg none', async () => {
    const { ticket } = await h.issue(contentId);
    for (const version of [0x00, 0x02, 0x7f, 0xff]) {
      const bytes = Buffer.from(ticket, 'base64url');
      bytes[0] = version;
      await assertRefused(await send(path(bytes.toString('base64url'))), 403, ['ticket-unsupported'], `version ${version}`);
    }
    const header = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: 'x', aud: h.serverId, exp: 9999999999 })).toString('base64url');
    for (const jwt of [`${header}.${payload}.`, `${header}.${payload}`, 'eyJhbGciOiJub25lIn0', `eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`]) {
      await assertRefused(await send(path(jwt)), 403, ['ticket-malformed', 'ticket-unsupported'], `jwt ${jwt.slice(0, 30)}`);
    }
  });

  it('refuses truncated, oversized and non-canonical spellings', async () => {
    const { ticket } = await h.issue(contentId);
    const bytes = Buffer.from(ticket, 'base64url');
    for (const length of [0, 1, 5, 6, 20, 40, bytes.length - 17, bytes.length - 1]) {
      const cut = bytes.subarray(0, length).toString('base64url');
      if (cut === '') continue;
      await assertRefused(await send(path(cut)), 403, ['ticket-malformed'], `truncated to ${length} bytes`);
    }
    for (const chars of [ticket.length - 1, ticket.length - 2, ticket.length - 3]) {
      await assertRefused(await send(path(ticket.slice(0, chars))), 403, ['ticket-malformed'], `cut to ${chars} chars`);
    }
    await assertRefused(await send(path(ticket + 'A')), 403, ['ticket-malformed'], 'one char more');
    await assertRefused(await send(path(ticket + 'AAAA')), 403, ['ticket-malformed'], 'three bytes more');
    await assertRefused(await send(path('A'.repeat(201))), 403, ['ticket-malformed'], '201 chars');
    await assertRefused(await send(path('A'.repeat(8000))), 403, ['ticket-malformed'], '8000 chars');
    await assertRefused(await send(path(`${ticket}=`)), 403, ['ticket-malformed'], 'padding');
    await assertRefused(await send(path(`${ticket}==`)), 403, ['ticket-malformed'], 'double padding');
    await assertRefused(await send(path(`${ticket}%3D`)), 403, ['ticket-malformed'], 'encoded padding');
    await assertRefused(await send(path(ticket.replaceAll('-', '+').replace(/^(.)/, '+'))), 403, ['ticket-malformed'], 'standard alphabet');
    await assertRefused(await send(path(` ${ticket}`.replace(' ', '%20'))), 403, ['ticket-malformed'], 'encoded space');

    // A spelling with stray trailing bits decodes to the same bytes under Node's lenient
    // decoder; it must still be refused. A bound ticket is 116 bytes, so it has trailing bits.
    const bound = await h.issue(contentId, { client: { mode: 'prefix', address: '127.0.0.0', bits: 8 } });
    assert.notEqual(Buffer.from(bound.ticket, 'base64url').length % 3, 0);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(bound.ticket.at(-1) ?? 'A');
    const sloppy = bound.ticket.slice(0, -1) + alphabet[last | 1];
    assert.notEqual(sloppy, bound.ticket);
    assert.deepEqual(Buffer.from(sloppy, 'base64url'), Buffer.from(bound.ticket, 'base64url'));
    await assertRefused(await send(`${h.publicUrl}/t/${sloppy}/${contentId}/item.bin`), 403, ['ticket-malformed'], 'trailing bits');
    assert.equal((await send(bound.url)).status, 200);
  });

  it('refuses a replay after completion with 410', async () => {
    const { url, claims } = await h.issue(contentId);
    assert.equal((await send(url)).status, 200);
    await h.consumed(claims.ticketId);
    await assertRefused(await send(url), 410, ['ticket-consumed'], 'replay');
    const head = await send(url, { method: 'HEAD' });
    assert.equal(head.status, 410);
    assert.equal(head.headers['connection'], 'close');
    assert.equal(await head.closed, true);
    await assertRefused(await send(url, { headers: { range: 'bytes=0-0' } }), 410, ['ticket-consumed'], 'replay of a range');
  });

  it('checks the client address when the ticket binds it, exactly or by prefix', async () => {
    const ok = [
      { mode: 'exact', address: '127.0.0.1' },
      { mode: 'exact', address: '::ffff:127.0.0.1' },
      { mode: 'prefix', address: '127.0.0.0', bits: 8 },
      { mode: 'prefix', address: '127.255.0.0', bits: 1 },
      { mode: 'prefix', address: '127.0.0.77', bits: 24 },
    ] as const;
    for (const client of ok) {
      const { url } = await h.issue(contentId, { client });
      assert.equal((await send(url)).status, 200, JSON.stringify(client));
    }
    const wrong = [
      { mode: 'exact', address: '127.0.0.2' },
      { mode: 'exact', address: '::1' },
      { mode: 'prefix', address: '10.0.0.0', bits: 8 },
      { mode: 'prefix', address: '127.0.1.0', bits: 24 },
      { mode: 'prefix', address: '2001:db8::', bits: 32 },
    ] as const;
    for (const client of wrong) {
      const { url } = await h.issue(contentId, { client });
      await assertRefused(await send(url), 403, ['ticket-wrong-client'], JSON.stringify(client));
    }
  });
});

function baseClaims(contentId: string, clock: ManualClock, overrides: Partial<TicketClaims> = {}): TicketClaims {
  const nowS = Math.floor(clock.now() / 1000);
  return {
    ticketId: newId(),
    orderId: newId(),
    contentId,
    audience: 'cs-test',
    notBefore: nowS,
    expiresAt: nowS + 300,
    maxConnections: 2,
    client: { mode: 'off' },
    ...overrides,
  };
}
