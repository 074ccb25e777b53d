import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { TesseraError, type ProblemCode } from '../errors.js';
import { uuidToBytes } from '../ids.js';
import { ManualClock } from '../clock.js';
import {
  MAX_CLOCK_TOLERANCE_S,
  MAX_TICKET_CHARS,
  TICKET_VERSION,
  checkClientAddress,
  checkWindow,
  decodeStrictBase64url,
  mintTicket,
  verifyTicket,
  type ClientBinding,
  type KeyLookup,
  type TicketClaims,
  type TicketKey,
  type VerifyPolicy,
} from './ticket.js';
import { deriveTicketKey } from './ticket-keys.js';

// The core-level proof of the permission ticket: every binding mode round-trips, and every
// way of bending a ticket is refused with the one code a content server will answer with.

const ROOT = Buffer.from('7465737365726120746573742072f06f74207365637265742030313233343536', 'hex');
const OTHER_ROOT = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const KID = 7;
const SERVER = 'cs-a';
const keyA: TicketKey = deriveTicketKey(ROOT, KID, SERVER);
const NOW_S = Date.UTC(2026, 0, 1) / 1000;
const clock = new ManualClock(NOW_S * 1000);

const BINDINGS: Readonly<Record<string, ClientBinding>> = {
  'off': { mode: 'off' },
  'exact v4': { mode: 'exact', address: '203.0.113.7' },
  'exact v6': { mode: 'exact', address: '2001:db8:85a3::8a2e:370:7334' },
  'prefix v4 /24': { mode: 'prefix', address: '203.0.113.7', bits: 24 },
  'prefix v6 /56': { mode: 'prefix', address: '2001:db8:1:2ab::5', bits: 56 },
};

function claimsFor(overrides: Partial<TicketClaims> = {}): TicketClaims {
  return {
    ticketId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0',
    orderId: '11111111-2222-4333-8444-555555555555',
    contentId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
    audience: SERVER,
    notBefore: NOW_S - 10,
    expiresAt: NOW_S + 120,
    maxConnections: 4,
    client: { mode: 'off' },
    ...overrides,
  };
}

function onlyKeys(...keys: TicketKey[]): KeyLookup {
  return (kid) => keys.find((k) => k.kid === kid);
}

function policyFor(overrides: Partial<VerifyPolicy> = {}): VerifyPolicy {
  return { audience: SERVER, keys: onlyKeys(keyA), nowMs: clock.now(), clockToleranceS: 5, ...overrides };
}

/** The code a content server would answer with, or 'valid'. */
function verdict(text: string, policy: VerifyPolicy = policyFor()): ProblemCode | 'valid' {
  try {
    verifyTicket(text, policy);
    return 'valid';
  } catch (error) {
    if (error instanceof TesseraError) return error.code;
    throw error;
  }
}

const bytesOf = (ticket: string): Buffer => Buffer.from(ticket, 'base64url');
const textOf = (bytes: Buffer): string => bytes.toString('base64url');

function headerLength(audience: string): number {
  return 1 + 4 + 1 + audience.length + 12;
}

describe('mint → verify round trip', () => {
  for (const [name, client] of Object.entries(BINDINGS)) {
    it(`binding ${name}`, () => {
      const claims = claimsFor({ client });
      const ticket = mintTicket(claims, keyA);
      assert.deepEqual(verifyTicket(ticket, policyFor()), claims);
      if (client.mode !== 'off') checkClientAddress(claims, client.address);
    });
  }

  it('keeps every field at its extremes', () => {
    for (const claims of [
      claimsFor({ maxConnections: 1, notBefore: 0, expiresAt: 0xffffffff }),
      claimsFor({ maxConnections: 255, audience: 'a' }),
      claimsFor({ audience: 'z'.repeat(32), ticketId: '00000000-0000-4000-8000-000000000000' }),
      claimsFor({ client: { mode: 'prefix', address: '0.0.0.0', bits: 0 } }),
      claimsFor({ client: { mode: 'prefix', address: '255.255.255.255', bits: 32 } }),
      claimsFor({ client: { mode: 'prefix', address: '::', bits: 0 } }),
      claimsFor({ client: { mode: 'prefix', address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', bits: 128 } }),
    ]) {
      const key = deriveTicketKey(ROOT, KID, claims.audience);
      const ticket = mintTicket(claims, key);
      assert.deepEqual(verifyTicket(ticket, policyFor({ audience: claims.audience, keys: onlyKeys(key) })), claims);
    }
  });

  it('gives back client addresses in canonical text (IPv4-mapped as a dotted quad)', () => {
    const cases: [ClientBinding, ClientBinding][] = [
      [{ mode: 'exact', address: '::ffff:203.0.113.7' }, { mode: 'exact', address: '203.0.113.7' }],
      [{ mode: 'exact', address: '::FFFF:CB00:7107' }, { mode: 'exact', address: '203.0.113.7' }],
      [{ mode: 'exact', address: '2001:DB8:0:0:0:0:0:1' }, { mode: 'exact', address: '2001:db8::1' }],
      [{ mode: 'exact', address: 'fe80::1%eth0' }, { mode: 'exact', address: 'fe80::1' }],
      [{ mode: 'prefix', address: '::ffff:198.51.100.9', bits: 16 }, { mode: 'prefix', address: '198.51.100.9', bits: 16 }],
      // IPv4 prefixes may also be given in IPv6 space (96 + n); they come back as n.
      [{ mode: 'prefix', address: '198.51.100.9', bits: 96 + 16 }, { mode: 'prefix', address: '198.51.100.9', bits: 16 }],
      [{ mode: 'prefix', address: '198.51.100.9', bits: 96 }, { mode: 'prefix', address: '198.51.100.9', bits: 0 }],
    ];
    for (const [given, expected] of cases) {
      const ticket = mintTicket(claimsFor({ client: given }), keyA);
      assert.deepEqual(verifyTicket(ticket, policyFor()).client, expected);
    }
  });

  it('mints a fresh nonce each time: equal claims never give equal tickets', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(mintTicket(claimsFor(), keyA));
    assert.equal(seen.size, 200);
  });

  it('has the documented size for every binding mode and audience length, always under MAX_TICKET_CHARS', () => {
    for (let audienceLength = 1; audienceLength <= 32; audienceLength++) {
      const audience = 'a'.repeat(audienceLength);
      const key = deriveTicketKey(ROOT, KID, audience);
      for (const client of Object.values(BINDINGS)) {
        const ticket = mintTicket(claimsFor({ audience, client }), key);
        const body = client.mode === 'off' ? 58 : 75;
        const bytes = headerLength(audience) + body + 16;
        assert.equal(bytesOf(ticket).length, bytes);
        assert.equal(ticket.length, Math.ceil((bytes * 4) / 3));
        assert.ok(ticket.length <= MAX_TICKET_CHARS);
      }
    }
  });

  it('refuses caller mistakes at mint time with TypeError', () => {
    const bad: [string, TicketClaims, TicketKey][] = [
      ['uppercase audience', claimsFor({ audience: 'CS-A' }), keyA],
      ['audience too long', claimsFor({ audience: 'a'.repeat(33) }), keyA],
      ['audience with a dot', claimsFor({ audience: 'cs.a' }), keyA],
      ['kid negative', claimsFor(), { kid: -1, secret: keyA.secret }],
      ['kid too big', claimsFor(), { kid: 2 ** 32, secret: keyA.secret }],
      ['kid fractional', claimsFor(), { kid: 1.5, secret: keyA.secret }],
      ['16-byte key', claimsFor(), { kid: KID, secret: keyA.secret.subarray(0, 16) }],
      ['0 connections', claimsFor({ maxConnections: 0 }), keyA],
      ['256 connections', claimsFor({ maxConnections: 256 }), keyA],
      ['empty window', claimsFor({ expiresAt: NOW_S, notBefore: NOW_S }), keyA],
      ['reversed window', claimsFor({ expiresAt: NOW_S - 1, notBefore: NOW_S }), keyA],
      ['negative start', claimsFor({ notBefore: -1 }), keyA],
      ['expiry past 2106', claimsFor({ expiresAt: 2 ** 32 }), keyA],
      ['uppercase UUID', claimsFor({ orderId: '11111111-2222-4333-8444-55555555555A' }), keyA],
      ['not a UUID', claimsFor({ contentId: 'movie.mp4' }), keyA],
      ['bad address', claimsFor({ client: { mode: 'exact', address: '203.0.113.256' } }), keyA],
      ['v4 zone ID', claimsFor({ client: { mode: 'exact', address: '203.0.113.7%eth0' } }), keyA],
      // For IPv4, 33..95 would be an IPv6-space prefix reaching past ::ffff:0:0/96.
      ['v4 prefix /33', claimsFor({ client: { mode: 'prefix', address: '203.0.113.7', bits: 33 } }), keyA],
      ['v4 prefix 95 bits', claimsFor({ client: { mode: 'prefix', address: '::ffff:203.0.113.7', bits: 95 } }), keyA],
      ['v4 prefix 129 bits', claimsFor({ client: { mode: 'prefix', address: '203.0.113.7', bits: 129 } }), keyA],
      ['v6 prefix past /128', claimsFor({ client: { mode: 'prefix', address: '2001:db8::1', bits: 129 } }), keyA],
      ['negative prefix', claimsFor({ client: { mode: 'prefix', address: '2001:db8::1', bits: -1 } }), keyA],
      ['fractional prefix', claimsFor({ client: { mode: 'prefix', address: '2001:db8::1', bits: 56.5 } }), keyA],
    ];
    for (const [name, claims, key] of bad) assert.throws(() => mintTicket(claims, key), TypeError, name);
  });
});

describe('tampering matrix: every bit of a minted ticket', () => {
  // Where a byte sits decides which check catches it first.
  function expectedFor(index: number, audience: string, kidKnown: boolean): ProblemCode {
    if (index === 0) return 'ticket-unsupported';
    if (index <= 4) return kidKnown ? 'ticket-invalid' : 'ticket-unknown-key';
    if (index === 5) return 'ticket-malformed';
    if (index < 6 + audience.length) return 'ticket-wrong-server';
    return 'ticket-invalid'; // nonce, ciphertext, tag
  }

  for (const [name, client] of Object.entries(BINDINGS)) {
    it(`binding ${name}: each flipped bit and each inverted byte gets its region's code`, () => {
      const original = bytesOf(mintTicket(claimsFor({ client }), keyA));
      // A key ring that would hand out the right key for any kid: only the AAD can catch a kid edit.
      const anyKid: KeyLookup = () => ({ secret: keyA.secret });
      let checked = 0;
      for (let i = 0; i < original.length; i++) {
        for (const mask of [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff]) {
          const bent = Buffer.from(original);
          bent[i] = (bent[i] ?? 0) ^ mask;
          const text = textOf(bent);
          assert.equal(verdict(text), expectedFor(i, SERVER, false), `byte ${i} ^ ${mask}`);
          assert.equal(verdict(text, policyFor({ keys: anyKid })), expectedFor(i, SERVER, true), `byte ${i} ^ ${mask}, any kid`);
          checked++;
        }
      }
      assert.equal(checked, original.length * 9);
    });
  }

  it('any single-byte replacement of the audience length is malformed or names another server', () => {
    const original = bytesOf(mintTicket(claimsFor(), keyA));
    for (let value = 0; value < 256; value++) {
      if (value === SERVER.length) continue;
      const bent = Buffer.from(original);
      bent[5] = value;
      assert.ok(['ticket-malformed', 'ticket-wrong-server'].includes(verdict(textOf(bent))), `length ${value}`);
    }
  });

  it('random multi-byte damage never verifies', () => {
    const original = bytesOf(mintTicket(claimsFor({ client: BINDINGS['exact v6'] }), keyA));
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(original.length - 1), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 255 }), (positions, mask) => {
        const bent = Buffer.from(original);
        for (const p of positions) bent[p] = (bent[p] ?? 0) ^ mask;
        return verdict(textOf(bent)) !== 'valid';
      }),
      { numRuns: 2000 },
    );
  });
});

describe('audience: a ticket is for one content server', () => {
  const keyB = deriveTicketKey(ROOT, KID, 'cs-b');
  const forB = mintTicket(claimsFor({ audience: 'cs-b' }), keyB);

  it("another server's ticket is refused as ticket-wrong-server", () => {
    assert.equal(verdict(forB), 'ticket-wrong-server');
  });

  it('patching the audience field to this server makes it ticket-invalid', () => {
    const patched = bytesOf(forB);
    patched.write(SERVER, 6, 'ascii'); // same length: cs-b → cs-a
    assert.equal(verdict(textOf(patched)), 'ticket-invalid');
  });

  it('patching in an audience of another length makes it ticket-invalid too', () => {
    const audience = 'cs-long-name';
    const keyLong = deriveTicketKey(ROOT, KID, audience);
    const original = bytesOf(mintTicket(claimsFor({ audience }), keyLong));
    const rest = original.subarray(6 + audience.length);
    const patched = Buffer.concat([original.subarray(0, 5), Buffer.from([SERVER.length]), Buffer.from(SERVER), rest]);
    assert.equal(verdict(textOf(patched)), 'ticket-invalid');
  });

  it("a content server's own key cannot mint a ticket another server accepts", () => {
    // What a stolen content-server key allows: tickets for that server only.
    const forged = mintTicket(claimsFor({ audience: 'cs-b' }), keyA);
    assert.equal(verdict(forged, policyFor({ audience: 'cs-b', keys: onlyKeys(keyB) })), 'ticket-invalid');
  });
});

describe('validity window', () => {
  const claims = claimsFor({ notBefore: NOW_S, expiresAt: NOW_S + 60 });
  const ticket = mintTicket(claims, keyA);
  const at = (seconds: number, toleranceS: number): ProblemCode | 'valid' =>
    verdict(ticket, policyFor({ nowMs: seconds * 1000, clockToleranceS: toleranceS }));

  it('is valid from not-before up to (not including) expiry', () => {
    assert.equal(at(NOW_S, 0), 'valid');
    assert.equal(at(NOW_S + 59.999, 0), 'valid');
    assert.equal(at(NOW_S + 60, 0), 'ticket-expired');
    assert.equal(at(NOW_S - 0.001, 0), 'ticket-not-yet-valid');
  });

  it('widens by the clock tolerance on both sides', () => {
    assert.equal(at(NOW_S + 64.999, 5), 'valid');
    assert.equal(at(NOW_S + 65, 5), 'ticket-expired');
    assert.equal(at(NOW_S - 5, 5), 'valid');
    assert.equal(at(NOW_S - 5.001, 5), 'ticket-not-yet-valid');
  });

  it(`bounds the tolerance at ${MAX_CLOCK_TOLERANCE_S} s whatever the caller asks`, () => {
    for (const asked of [MAX_CLOCK_TOLERANCE_S, 61, 3600, 1e9, Infinity]) {
      assert.equal(at(NOW_S + 60 + 59.999, asked), 'valid', `tolerance ${asked}`);
      assert.equal(at(NOW_S + 60 + 60, asked), 'ticket-expired', `tolerance ${asked}`);
      assert.equal(at(NOW_S - 60, asked), 'valid', `tolerance ${asked}`);
      assert.equal(at(NOW_S - 60.001, asked), 'ticket-not-yet-valid', `tolerance ${asked}`);
    }
  });

  it('treats a negative tolerance as none', () => {
    assert.equal(at(NOW_S + 59.999, -30), 'valid');
    assert.equal(at(NOW_S - 0.001, -30), 'ticket-not-yet-valid');
  });

  it('fails closed on a NaN clock or tolerance instead of waving every ticket through', () => {
    assert.throws(() => verifyTicket(ticket, policyFor({ nowMs: Number.NaN })), TypeError);
    assert.throws(() => verifyTicket(ticket, policyFor({ nowMs: Infinity })), TypeError);
    assert.throws(() => verifyTicket(ticket, policyFor({ clockToleranceS: Number.NaN })), TypeError);
    assert.throws(() => checkWindow(claims, Number.NaN, 0), TypeError);
  });

  it('checks the window only after authenticity: an expired forgery is ticket-invalid, not ticket-expired', () => {
    const bent = bytesOf(ticket);
    bent[bent.length - 1] = (bent[bent.length - 1] ?? 0) ^ 1;
    assert.equal(verdict(textOf(bent), policyFor({ nowMs: (NOW_S + 3600) * 1000 })), 'ticket-invalid');
  });
});

describe('keys', () => {
  const ticket = mintTicket(claimsFor(), keyA);

  it('an unknown kid is ticket-unknown-key', () => {
    assert.equal(verdict(ticket, policyFor({ keys: () => undefined })), 'ticket-unknown-key');
    assert.equal(verdict(mintTicket(claimsFor(), deriveTicketKey(ROOT, KID + 1, SERVER))), 'ticket-unknown-key');
  });

  it('a retired kid is ticket-key-retired', () => {
    assert.equal(verdict(ticket, policyFor({ keys: (kid) => (kid === KID ? 'retired' : undefined) })), 'ticket-key-retired');
  });

  it('a ticket minted under key A does not verify under key B with the same kid', () => {
    const keyB: TicketKey = { kid: KID, secret: randomBytes(32) };
    assert.equal(verdict(ticket, policyFor({ keys: onlyKeys(keyB) })), 'ticket-invalid');
    const otherRoot = deriveTicketKey(OTHER_ROOT, KID, SERVER);
    assert.equal(verdict(ticket, policyFor({ keys: onlyKeys(otherRoot) })), 'ticket-invalid');
  });

  it('the largest kid round-trips', () => {
    const key = deriveTicketKey(ROOT, 0xffffffff, SERVER);
    assert.equal(verdict(mintTicket(claimsFor(), key), policyFor({ keys: onlyKeys(key) })), 'valid');
  });
});

describe('algorithm confusion', () => {
  const original = bytesOf(mintTicket(claimsFor(), keyA));

  /** Seals the same conditions by hand, so only the one thing under test differs. */
  function seal(options: { version?: number; cipher?: string; aad?: (header: Buffer) => Buffer | undefined; secret?: Buffer; tagBytes?: number }): string {
    const header = Buffer.from(original.subarray(0, headerLength(SERVER)));
    header[0] = options.version ?? TICKET_VERSION;
    const nonce = header.subarray(header.length - 12);
    const plain = Buffer.alloc(58);
    uuidToBytes(claimsFor().ticketId, plain, 0);
    uuidToBytes(claimsFor().orderId, plain, 16);
    uuidToBytes(claimsFor().contentId, plain, 32);
    plain.writeUInt32BE(NOW_S - 10, 48);
    plain.writeUInt32BE(NOW_S + 120, 52);
    plain[56] = 1;
    const algorithm = options.cipher ?? 'aes-256-gcm';
    const tagBytes = options.tagBytes ?? 16;
    const cipher = createCipheriv(algorithm as 'aes-256-gcm', options.secret ?? keyA.secret, nonce, { authTagLength: tagBytes });
    const aad = (options.aad ?? ((h) => h))(header);
    if (aad) cipher.setAAD(aad);
    return textOf(Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]));
  }

  it('the hand-made sealer agrees with mintTicket (so the cases below differ in one thing only)', () => {
    assert.equal(verdict(seal({})), 'valid');
  });

  it('version 0x00, 0x02 and 0xff are ticket-unsupported, even when correctly sealed', () => {
    for (const version of [0x00, 0x02, 0xff]) {
      const bent = Buffer.from(original);
      bent[0] = version;
      assert.equal(verdict(textOf(bent)), 'ticket-unsupported');
      assert.equal(verdict(seal({ version })), 'ticket-unsupported');
    }
  });

  it('a JWT with alg "none" is refused', () => {
    const header = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
    const payload = Buffer.from('{"sub":"anyone","aud":"cs-a"}').toString('base64url');
    assert.equal(verdict(`${header}.${payload}.`), 'ticket-malformed');
    assert.equal(verdict(`${header}.${payload}`), 'ticket-malformed');
    assert.equal(verdict(header), 'ticket-unsupported'); // '{' is not version 0x01
  });

  it('the right key with another AEAD, a shorter tag or another header is ticket-invalid', () => {
    assert.equal(verdict(seal({ cipher: 'chacha20-poly1305' })), 'ticket-invalid');
    assert.equal(verdict(seal({ cipher: 'aes-128-gcm', secret: keyA.secret.subarray(0, 16) })), 'ticket-invalid');
    assert.equal(verdict(seal({ aad: () => undefined })), 'ticket-invalid');
    assert.equal(verdict(seal({ aad: (h) => h.subarray(0, 6) })), 'ticket-invalid');
    assert.equal(verdict(seal({ aad: (h) => h.subarray(1) })), 'ticket-invalid');
    // A 12-byte GCM tag (weaker forgery bound) leaves the ticket 4 bytes short.
    assert.equal(verdict(seal({ tagBytes: 12 })), 'ticket-malformed');
    // The whole key derived for another purpose: same root, other salt.
    assert.equal(verdict(seal({ secret: ROOT })), 'ticket-invalid');
  });
});

describe('length', () => {
  for (const name of ['off', 'exact v6'] as const) {
    it(`binding ${name}: truncated at every byte length and every character length never verifies`, () => {
      const ticket = mintTicket(claimsFor({ client: BINDINGS[name] }), keyA);
      const bytes = bytesOf(ticket);
      for (let length = 0; length < bytes.length; length++) {
        // Cut exactly one bound suffix (17 bytes) and the length looks like an unbound ticket:
        // only the tag can tell, so that one case is ticket-invalid.
        const expected = name !== 'off' && length === bytes.length - 17 ? 'ticket-invalid' : 'ticket-malformed';
        assert.equal(verdict(textOf(bytes.subarray(0, length))), expected, `${length} bytes`);
      }
      for (let length = 0; length < ticket.length; length++) {
        assert.ok(['ticket-malformed', 'ticket-invalid'].includes(verdict(ticket.slice(0, length))), `${length} chars`);
      }
    });
  }

  it('extended by any number of bytes never verifies', () => {
    const bytes = bytesOf(mintTicket(claimsFor(), keyA));
    for (let extra = 1; extra <= 40; extra++) {
      const grown = textOf(Buffer.concat([bytes, Buffer.alloc(extra, 0x41)]));
      if (grown.length > MAX_TICKET_CHARS) break;
      assert.equal(verdict(grown), extra === 17 ? 'ticket-invalid' : 'ticket-malformed', `${extra} more`);
    }
  });

  it(`over ${MAX_TICKET_CHARS} characters is refused before any decoding`, () => {
    const ticket = mintTicket(claimsFor(), keyA);
    for (const text of ['A'.repeat(MAX_TICKET_CHARS + 1), ticket + 'A'.repeat(MAX_TICKET_CHARS), 'A'.repeat(1 << 20)]) {
      assert.throws(
        () => verifyTicket(text, policyFor()),
        (e: unknown) => e instanceof TesseraError && e.code === 'ticket-malformed' && e.message === 'ticket is too long',
      );
    }
  });
});

describe('strict base64url: one ticket, one spelling', () => {
  // Ticket byte lengths 96, 97 and 98 (audience of 4, 5 and 6 characters) leave 0, 4 and 2
  // unused bits in the last character.
  function ticketFor(audience: string, client: ClientBinding = { mode: 'off' }): { text: string; policy: VerifyPolicy } {
    const key = deriveTicketKey(ROOT, KID, audience);
    return { text: mintTicket(claimsFor({ audience, client }), key), policy: policyFor({ audience, keys: onlyKeys(key) }) };
  }
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  it('refuses every other last character that Node decodes to the same bytes', () => {
    let variants = 0;
    for (const audience of ['cs-ab', 'cs-abc']) {
      const { text, policy } = ticketFor(audience);
      assert.equal(verdict(text, policy), 'valid');
      const bytes = bytesOf(text);
      for (const c of ALPHABET) {
        const variant = text.slice(0, -1) + c;
        if (variant === text || !Buffer.from(variant, 'base64url').equals(bytes)) continue;
        variants++;
        assert.equal(decodeStrictBase64url(variant), undefined);
        assert.equal(verdict(variant, policy), 'ticket-malformed', `last char ${c}`);
      }
    }
    assert.equal(variants, 15 + 3); // 4 spare bits, then 2 spare bits
  });

  it('refuses padding, standard-alphabet characters, whitespace and stray characters', () => {
    for (const audience of ['cs-a', 'cs-ab', 'cs-abc']) {
      const { text, policy } = ticketFor(audience);
      const padded = Buffer.from(text, 'base64url').toString('base64');
      const spellings = [
        text + '=',
        text + '==',
        padded,
        ' ' + text,
        text + ' ',
        text + '\n',
        text.slice(0, 10) + '\n' + text.slice(10),
        text.slice(0, 10) + '\t' + text.slice(10),
        text.slice(0, 10) + '.' + text.slice(10),
        text.slice(0, 10) + '%' + text.slice(10),
        text + 'A',
        text.slice(0, 10) + '\u00e9' + text.slice(10),
      ];
      for (const spelling of spellings) {
        if (spelling === text) continue;
        assert.equal(verdict(spelling, policy), 'ticket-malformed', JSON.stringify(spelling));
      }
    }
  });

  it("refuses '+' and '/' in place of '-' and '_' (Node's decoder accepts both)", () => {
    let text = '';
    for (let i = 0; i < 1000 && !/[-_]/.test(text); i++) text = mintTicket(claimsFor(), keyA);
    assert.match(text, /[-_]/);
    const standard = text.replaceAll('-', '+').replaceAll('_', '/');
    assert.ok(Buffer.from(standard, 'base64url').equals(bytesOf(text)));
    assert.equal(verdict(standard), 'ticket-malformed');
  });

  it('decodeStrictBase64url: canonical text round-trips, and anything it accepts is canonical', () => {
    assert.equal(decodeStrictBase64url(''), undefined);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 160 }), (raw) => {
        const bytes = Buffer.from(raw);
        return decodeStrictBase64url(bytes.toString('base64url'))?.equals(bytes) === true;
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgw_-+/= \n.xyz9'), maxLength: 40 }), (text) => {
        const bytes = decodeStrictBase64url(text);
        return bytes === undefined || bytes.toString('base64url') === text;
      }),
    );
  });
});

describe('client address', () => {
  function boundTo(client: ClientBinding): TicketClaims {
    return verifyTicket(mintTicket(claimsFor({ client }), keyA), policyFor());
  }
  function accepts(claims: TicketClaims, remote: string | undefined): boolean {
    try {
      checkClientAddress(claims, remote);
      return true;
    } catch (error) {
      assert.ok(error instanceof TesseraError && error.code === 'ticket-wrong-client');
      return false;
    }
  }

  it('off accepts any client, even an unknown address', () => {
    const claims = boundTo({ mode: 'off' });
    for (const remote of ['203.0.113.7', '::1', undefined, 'garbage']) assert.ok(accepts(claims, remote));
  });

  it('exact IPv4 accepts the address in its IPv4 and IPv4-mapped spellings only', () => {
    const claims = boundTo({ mode: 'exact', address: '203.0.113.7' });
    for (const remote of ['203.0.113.7', '::ffff:203.0.113.7', '::FFFF:203.0.113.7', '::ffff:cb00:7107', '0:0:0:0:0:ffff:cb00:7107']) {
      assert.ok(accepts(claims, remote), remote);
    }
    for (const remote of ['203.0.113.8', '203.0.113.6', '::203.0.113.7', '64:ff9b::203.0.113.7', '2001:db8::1', undefined, '', 'garbage', '203.0.113.7%eth0']) {
      assert.ok(!accepts(claims, remote), String(remote));
    }
  });

  it('exact IPv6 accepts every spelling of that address and nothing else', () => {
    const claims = boundTo({ mode: 'exact', address: '2001:db8::1' });
    for (const remote of ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:0db8:0000::0001']) assert.ok(accepts(claims, remote), remote);
    for (const remote of ['2001:db8::2', '2001:db8::1:0', '::ffff:1.2.3.4', '1.2.3.4', undefined]) assert.ok(!accepts(claims, remote), String(remote));
    const linkLocal = boundTo({ mode: 'exact', address: 'fe80::1' });
    assert.ok(accepts(linkLocal, 'fe80::1%eth0'));
  });

  it('prefix IPv4 /24 accepts the /24 in either spelling and nothing outside it', () => {
    const claims = boundTo({ mode: 'prefix', address: '203.0.113.7', bits: 24 });
    assert.deepEqual(boundTo({ mode: 'prefix', address: '203.0.113.7', bits: 96 + 24 }), claims);
    for (const remote of ['203.0.113.0', '203.0.113.255', '::ffff:203.0.113.99']) assert.ok(accepts(claims, remote), remote);
    // 10.0.0.1 and ::1 would pass if 24 were read in IPv6 space for an IPv4 address.
    for (const remote of ['203.0.112.255', '203.0.114.0', '10.0.0.1', '0.0.0.0', '::1', '::', '::203.0.113.7', undefined]) {
      assert.ok(!accepts(claims, remote), String(remote));
    }
  });

  it('claims built by hand: IPv6-space IPv4 prefixes work, meaningless bits narrow to the whole address', () => {
    const byHand = (bits: number): TicketClaims => claimsFor({ client: { mode: 'prefix', address: '203.0.113.7', bits } });
    assert.ok(accepts(byHand(120), '203.0.113.200'));
    assert.ok(!accepts(byHand(120), '203.0.114.7'));
    for (const bits of [50, 129, -1, 1.5, Number.NaN]) {
      assert.ok(accepts(byHand(bits), '203.0.113.7'), String(bits));
      assert.ok(!accepts(byHand(bits), '203.0.113.8'), String(bits));
    }
  });

  it('prefix IPv4 /0 accepts every IPv4 client and no IPv6 one', () => {
    const claims = boundTo({ mode: 'prefix', address: '203.0.113.7', bits: 0 });
    for (const remote of ['1.2.3.4', '255.255.255.255', '::ffff:10.0.0.1']) assert.ok(accepts(claims, remote), remote);
    for (const remote of ['::1', '2001:db8::1']) assert.ok(!accepts(claims, remote), remote);
  });

  it('prefix IPv6 /56 accepts the /56 and nothing outside it', () => {
    const claims = boundTo({ mode: 'prefix', address: '2001:db8:1:2ab::5', bits: 56 });
    for (const remote of ['2001:db8:1:200::', '2001:db8:1:2ff:ffff:ffff:ffff:ffff', '2001:db8:1:2ab:1234::1']) assert.ok(accepts(claims, remote), remote);
    for (const remote of ['2001:db8:1:1ff:ffff::', '2001:db8:1:300::', '2001:db8:2:2ab::5', '203.0.113.7', undefined]) {
      assert.ok(!accepts(claims, remote), String(remote));
    }
  });
});

describe('confidentiality: the conditions are not readable from the ticket', () => {
  it('no claim appears in the decoded bytes or the text', () => {
    const claims = claimsFor({
      ticketId: 'deadbeef-0000-4000-8000-cafebabe0001',
      orderId: 'feedface-1111-4111-8111-0123456789ab',
      contentId: 'badc0ffe-2222-4222-8222-fedcba987654',
      client: { mode: 'exact', address: '2001:db8:dead:beef::1' },
    });
    for (let i = 0; i < 50; i++) {
      const text = mintTicket(claims, keyA);
      const bytes = bytesOf(text);
      for (const id of [claims.ticketId, claims.orderId, claims.contentId]) {
        const raw = Buffer.alloc(16);
        uuidToBytes(id, raw, 0);
        assert.equal(bytes.indexOf(raw), -1, id);
        assert.equal(bytes.indexOf(raw.subarray(0, 6)), -1, `prefix of ${id}`);
        assert.ok(!text.includes(raw.toString('base64url').slice(0, 8)), id);
      }
      assert.equal(bytes.indexOf(Buffer.from('20010db8deadbeef', 'hex')), -1);
      const window = Buffer.alloc(8);
      window.writeUInt32BE(claims.notBefore, 0);
      window.writeUInt32BE(claims.expiresAt, 4);
      assert.equal(bytes.indexOf(window.subarray(0, 4)), -1);
      assert.equal(bytes.indexOf(window.subarray(4)), -1);
    }
  });

  it('the clear header holds only the version, kid, audience and nonce', () => {
    const bytes = bytesOf(mintTicket(claimsFor(), keyA));
    assert.equal(bytes[0], TICKET_VERSION);
    assert.equal(bytes.readUInt32BE(1), KID);
    assert.equal(bytes[5], SERVER.length);
    assert.equal(bytes.toString('ascii', 6, 6 + SERVER.length), SERVER);
  });
});
