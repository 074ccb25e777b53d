import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { TesseraError } from '../errors.js';
import {
  activeEpoch,
  checkControlToken,
  controlToken,
  derivePurposeSecret,
  deriveTicketKey,
  serverKeySet,
  serverKeySetVersion,
  type KeyEpoch,
  type ServerKeySet,
} from './ticket-keys.js';
import { mintTicket, verifyTicket, type KeyLookup, type TicketClaims } from './ticket.js';

const ROOT = Buffer.from('7465737365726120746573742072f06f74207365637265742030313233343536', 'hex');
const OTHER_ROOT = Buffer.alloc(32, 0x5a);

describe('deriveTicketKey', () => {
  it('matches a vector computed outside Node (Python hmac), so the derivation can never drift', () => {
    // HKDF-SHA256(ikm = ROOT, salt = "tessera/ticket-key/v1", info = u32be(1) || "cs-1").
    const key = deriveTicketKey(ROOT, 1, 'cs-1');
    assert.equal(key.kid, 1);
    assert.equal(key.secret.toString('hex'), '848bbf79ceba06e34ae87557466675e44d12fa400aba10810ca72ab45cb75b4c');
  });

  it('is deterministic and 32 bytes', () => {
    for (const server of ['cs-1', 'a', 'z'.repeat(32)]) {
      const a = deriveTicketKey(ROOT, 42, server);
      const b = deriveTicketKey(Buffer.from(ROOT), 42, server);
      assert.equal(a.secret.length, 32);
      assert.ok(a.secret.equals(b.secret));
    }
  });

  it('differs per server, per kid and per root', () => {
    const seen = new Set<string>();
    const servers = ['cs-1', 'cs-2', 'cs-10', 'cs-1-', 'a', 'b'];
    const kids = [0, 1, 2, 255, 256, 0x63732d31, 0xffffffff];
    for (const root of [ROOT, OTHER_ROOT]) {
      for (const server of servers) for (const kid of kids) seen.add(deriveTicketKey(root, kid, server).secret.toString('hex'));
    }
    assert.equal(seen.size, 2 * servers.length * kids.length);
  });

  it('refuses a server ID outside its pattern and a kid outside u32 (TypeError)', () => {
    for (const server of ['', 'CS-1', 'cs.1', 'cs/1', 'caf\u00e9', 'a'.repeat(33), '-cs']) {
      assert.throws(() => deriveTicketKey(ROOT, 1, server), TypeError, server);
    }
    for (const kid of [-1, 1.5, 2 ** 32, Number.NaN]) assert.throws(() => deriveTicketKey(ROOT, kid, 'cs-1'), TypeError, String(kid));
  });

  it('purpose secrets are separate from each other and from every ticket key', () => {
    const control = derivePurposeSecret(ROOT, 'control');
    assert.equal(control.toString('hex'), 'baa61e0d2775173a3e27c787c9fd0c09b46d40980e46eda8cf1fc11a860de05a');
    assert.ok(!control.equals(derivePurposeSecret(ROOT, 'queue')));
    assert.ok(!control.equals(derivePurposeSecret(OTHER_ROOT, 'control')));
    assert.ok(!control.equals(deriveTicketKey(ROOT, 1, 'cs-1').secret));
  });
});

describe('control tokens', () => {
  it('name their server, and match a vector computed outside Node', () => {
    const token = controlToken(ROOT, 'cs-1');
    assert.equal(token, 'cs-1.53bYe7lAD6dx6H9TGtvKVVI_PFD-oOjrmEVp4V0F4iM');
    assert.equal(checkControlToken(ROOT, token), 'cs-1');
    assert.ok(!token.includes(ROOT.toString('base64url')) && !token.includes(ROOT.toString('hex')));
  });

  it("one server's token does not pass for another server, nor under another root", () => {
    const token = controlToken(ROOT, 'cs-1');
    const mac = token.slice('cs-1.'.length);
    assert.equal(checkControlToken(ROOT, `cs-2.${mac}`), undefined);
    assert.equal(checkControlToken(ROOT, `cs-10.${mac}`), undefined);
    assert.equal(checkControlToken(OTHER_ROOT, token), undefined);
    assert.notEqual(controlToken(ROOT, 'cs-2').split('.')[1], mac);
  });

  it('refuses every single-character change, truncation and extension', () => {
    const token = controlToken(ROOT, 'cs-1');
    for (let i = 0; i < token.length; i++) {
      for (const c of ['A', 'z', '0', '-', '_', '.']) {
        if (token[i] === c) continue;
        const bent = token.slice(0, i) + c + token.slice(i + 1);
        assert.equal(checkControlToken(ROOT, bent), undefined, bent);
      }
      assert.equal(checkControlToken(ROOT, token.slice(0, i)), undefined);
    }
    for (const extra of ['=', 'A', ' ', '\n', '.x']) assert.equal(checkControlToken(ROOT, token + extra), undefined);
  });

  it('refuses shapes that are not tokens', () => {
    for (const token of ['', '.', '.abc', 'cs-1', 'cs-1.', 'cs-1..', `Bearer ${controlToken(ROOT, 'cs-1')}`]) {
      assert.equal(checkControlToken(ROOT, token), undefined, token);
    }
  });
});

describe('key epochs and server key sets', () => {
  const HOUR = 3_600_000;
  const T0 = Date.UTC(2026, 0, 1);
  const first: KeyEpoch = { kid: 1, createdAt: T0, supersededAt: null, retiresAt: null };
  // Rotation at T0 + 24 h: kid 2 mints from then on; kid 1 stays accepted for a 1 h grace.
  const rotated: KeyEpoch[] = [
    { ...first, supersededAt: T0 + 24 * HOUR, retiresAt: T0 + 25 * HOUR },
    { kid: 2, createdAt: T0 + 24 * HOUR, supersededAt: null, retiresAt: null },
  ];

  it('activeEpoch is the newest kid that is not superseded', () => {
    assert.equal(activeEpoch([]), undefined);
    assert.equal(activeEpoch([first])?.kid, 1);
    assert.equal(activeEpoch(rotated)?.kid, 2);
    assert.equal(activeEpoch([...rotated].reverse())?.kid, 2);
    const allSuperseded = rotated.map((e) => ({ ...e, supersededAt: T0 }));
    assert.equal(activeEpoch(allSuperseded), undefined);
    const newerButSuperseded: KeyEpoch[] = [first, { kid: 9, createdAt: T0, supersededAt: T0, retiresAt: null }];
    assert.equal(activeEpoch(newerButSuperseded)?.kid, 1);
  });

  it('the version changes on rotation and on retirement, and only then', () => {
    const before = serverKeySet(ROOT, 'cs-1', [first], T0 + HOUR);
    const sameLater = serverKeySet(ROOT, 'cs-1', [first], T0 + 2 * HOUR);
    const afterRotation = serverKeySet(ROOT, 'cs-1', rotated, T0 + 24 * HOUR);
    const lastGraceMs = serverKeySet(ROOT, 'cs-1', rotated, T0 + 25 * HOUR - 1);
    const afterRetirement = serverKeySet(ROOT, 'cs-1', rotated, T0 + 25 * HOUR);
    assert.equal(before.version, sameLater.version);
    assert.notEqual(afterRotation.version, before.version);
    assert.equal(lastGraceMs.version, afterRotation.version);
    assert.notEqual(afterRetirement.version, afterRotation.version);
    assert.deepEqual(afterRotation.keys.map((k) => k.kid), [1, 2]);
    assert.deepEqual(afterRotation.retired, []);
    assert.deepEqual(afterRetirement.keys.map((k) => k.kid), [2]);
    assert.deepEqual(afterRetirement.retired, [1]);
    for (const [epochs, at, set] of [
      [[first], T0 + HOUR, before],
      [rotated, T0 + 24 * HOUR, afterRotation],
      [rotated, T0 + 25 * HOUR, afterRetirement],
    ] as const) {
      assert.equal(serverKeySetVersion(epochs, at), set.version, 'the version alone, without deriving keys, is the same');
    }
  });

  it("holds exactly this server's derived keys, and never another server's", () => {
    const set = serverKeySet(ROOT, 'cs-1', rotated, T0 + 24 * HOUR);
    const other = serverKeySet(ROOT, 'cs-2', rotated, T0 + 24 * HOUR);
    for (const key of set.keys) {
      assert.equal(key.secret, deriveTicketKey(ROOT, key.kid, 'cs-1').secret.toString('base64url'));
      assert.ok(!other.keys.some((k) => k.secret === key.secret));
    }
    assert.equal(set.version, other.version);
  });

  it('rotation without downtime: old tickets verify through the grace period, then are ticket-key-retired', () => {
    const lookupFrom = (set: ServerKeySet): KeyLookup => (kid) => {
      if (set.retired.includes(kid)) return 'retired';
      const found = set.keys.find((k) => k.kid === kid);
      return found ? { secret: Buffer.from(found.secret, 'base64url') } : undefined;
    };
    const claimsAt = (ms: number): TicketClaims => ({
      ticketId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0',
      orderId: '11111111-2222-4333-8444-555555555555',
      contentId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
      audience: 'cs-1',
      notBefore: Math.floor(ms / 1000),
      expiresAt: Math.floor(ms / 1000) + 3600,
      maxConnections: 1,
      client: { mode: 'off' },
    });
    const verdict = (ticket: string, nowMs: number): string => {
      try {
        verifyTicket(ticket, { audience: 'cs-1', keys: lookupFrom(serverKeySet(ROOT, 'cs-1', rotated, nowMs)), nowMs, clockToleranceS: 0 });
        return 'valid';
      } catch (error) {
        if (error instanceof TesseraError) return error.code;
        throw error;
      }
    };
    // Minted by kid 1 in its last second as the active key; good for the 1 h grace.
    const lastOld = T0 + 24 * HOUR - 1000;
    const oldTicket = mintTicket(claimsAt(lastOld), deriveTicketKey(ROOT, activeEpoch([first])?.kid ?? -1, 'cs-1'));
    const newTicket = mintTicket(claimsAt(T0 + 24 * HOUR), deriveTicketKey(ROOT, activeEpoch(rotated)?.kid ?? -1, 'cs-1'));
    assert.equal(verdict(oldTicket, T0 + 24 * HOUR), 'valid');
    assert.equal(verdict(oldTicket, T0 + 25 * HOUR - 1001), 'valid');
    assert.equal(verdict(newTicket, T0 + 24 * HOUR), 'valid');
    assert.equal(verdict(oldTicket, T0 + 25 * HOUR), 'ticket-key-retired');
    assert.equal(verdict(newTicket, T0 + 25 * HOUR - 1), 'valid');
  });
});
