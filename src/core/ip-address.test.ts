import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { addressToBytes, bytesToAddress, isIPv4Mapped, samePrefix } from './ip-address.js';

const hex = (address: string): string | undefined => addressToBytes(address)?.toString('hex');

describe('addressToBytes', () => {
  it('parses IPv4 into its IPv4-mapped form', () => {
    assert.equal(hex('0.0.0.0'), '00000000000000000000ffff00000000');
    assert.equal(hex('127.0.0.1'), '00000000000000000000ffff7f000001');
    assert.equal(hex('203.0.113.7'), '00000000000000000000ffffcb007107');
    assert.equal(hex('255.255.255.255'), '00000000000000000000ffffffffffff');
  });

  it('parses full, compressed and mixed-case IPv6', () => {
    const cases: [string, string][] = [
      ['::', '00000000000000000000000000000000'],
      ['::1', '00000000000000000000000000000001'],
      ['1::', '00010000000000000000000000000000'],
      ['2001:db8::1', '20010db8000000000000000000000001'],
      ['2001:DB8::1', '20010db8000000000000000000000001'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001'],
      ['2001:db8:0:0:1::1', '20010db8000000000001000000000001'],
      ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
      ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
      ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffffffffffffffffffffffffffffffff'],
    ];
    for (const [text, expected] of cases) assert.equal(hex(text), expected, text);
  });

  it('parses embedded IPv4 (mapped, NAT64, compatible, full form)', () => {
    assert.equal(hex('::ffff:1.2.3.4'), '00000000000000000000ffff01020304');
    assert.equal(hex('::FFFF:1.2.3.4'), '00000000000000000000ffff01020304');
    assert.equal(hex('::ffff:102:304'), '00000000000000000000ffff01020304');
    assert.equal(hex('0:0:0:0:0:ffff:1.2.3.4'), '00000000000000000000ffff01020304');
    assert.equal(hex('64:ff9b::1.2.3.4'), '0064ff9b000000000000000001020304');
    assert.equal(hex('::1.2.3.4'), '00000000000000000000000001020304');
    assert.equal(hex('1:2:3:4:5:6:255.255.0.1'), '000100020003000400050006ffff0001');
  });

  it('IPv4 and IPv4-mapped spellings give the same bytes', () => {
    for (const v4 of ['1.2.3.4', '10.0.0.1', '192.168.255.254']) assert.equal(hex(v4), hex(`::ffff:${v4}`), v4);
  });

  it('drops a valid zone ID of an IPv6 address', () => {
    assert.equal(hex('fe80::1%eth0'), hex('fe80::1'));
    assert.equal(hex('fe80::1%25'), hex('fe80::1'));
    assert.equal(hex('fe80::a:b%en0.1'), hex('fe80::a:b'));
  });

  it('refuses garbage', () => {
    const garbage = [
      '', ' ', 'localhost', 'example.com', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-1', '01.2.3.4', '0x7f.0.0.1',
      '1.2.3.4 ', ' 1.2.3.4', '1.2.3.4%eth0', '1.2.3.4/24', '[::1]', '::1 ', ':::', '1::2::3', '12345::',
      '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7::8', 'g::1', '::ffff:1.2.3.256', '::ffff:1.2.3',
      '1.2.3.4::', 'fe80::1%', '::1%', '%eth0', '2001:db8::1/64', '::ffff:01.2.3.4',
    ];
    for (const text of garbage) assert.equal(addressToBytes(text), undefined, JSON.stringify(text));
  });

  it('agrees with node:net on what is an address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ unit: fc.constantFrom(...'0123456789abcdef:.%') })), (text) => {
        const zoneless = text.split('%')[0] ?? '';
        const expected = isIP(text) !== 0 && (isIP(zoneless) !== 0);
        return (addressToBytes(text) !== undefined) === expected;
      }),
      { numRuns: 3000 },
    );
  });
});

describe('bytesToAddress', () => {
  it('writes the RFC 5952 canonical form', () => {
    const cases: [string, string][] = [
      ['::', '::'],
      ['::1', '::1'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // leftmost of two equal runs
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
      ['1:0:0:0:0:0:0:0', '1::'],
      ['FE80::ABCD', 'fe80::abcd'],
      ['::ffff:1.2.3.4', '1.2.3.4'],
      ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ];
    for (const [given, expected] of cases) {
      const bytes = addressToBytes(given);
      assert.ok(bytes, given);
      assert.equal(bytesToAddress(bytes), expected, given);
    }
  });

  it('round-trips every 16-byte value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (raw, mapped) => {
        const bytes = Buffer.from(raw);
        if (mapped) bytes.fill(0, 0, 10).fill(0xff, 10, 12);
        const text = bytesToAddress(bytes);
        return isIP(text) !== 0 && addressToBytes(text)?.equals(bytes) === true;
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses a buffer that is not 16 bytes', () => {
    assert.throws(() => bytesToAddress(Buffer.alloc(4)), TypeError);
  });
});

describe('isIPv4Mapped', () => {
  it('is true for ::ffff:0:0/96 only', () => {
    assert.ok(isIPv4Mapped(addressToBytes('1.2.3.4') ?? Buffer.alloc(0)));
    assert.ok(isIPv4Mapped(addressToBytes('::ffff:0.0.0.0') ?? Buffer.alloc(0)));
    for (const text of ['::1.2.3.4', '64:ff9b::1.2.3.4', '::fffe:1.2.3.4', '1::ffff:1.2.3.4', '::']) {
      assert.ok(!isIPv4Mapped(addressToBytes(text) ?? Buffer.alloc(16, 1)), text);
    }
  });
});

describe('samePrefix', () => {
  it('at every bit boundary: addresses that first differ at bit k share exactly the prefixes up to k', () => {
    const base = Buffer.alloc(16, 0xa5);
    for (let k = 0; k < 128; k++) {
      const other = Buffer.from(base);
      other[k >> 3] = (other[k >> 3] ?? 0) ^ (0x80 >> (k & 7));
      for (let bits = 0; bits <= 128; bits++) {
        assert.equal(samePrefix(base, other, bits), bits <= k, `differ at ${k}, /${bits}`);
        assert.equal(samePrefix(other, base, bits), bits <= k);
      }
    }
  });

  it('an address shares every prefix with itself', () => {
    const a = addressToBytes('2001:db8::1') ?? Buffer.alloc(0);
    for (let bits = 0; bits <= 128; bits++) assert.ok(samePrefix(a, Buffer.from(a), bits));
  });

  it('works on the textbook networks', () => {
    const b = (text: string): Buffer => addressToBytes(text) ?? Buffer.alloc(0);
    assert.ok(samePrefix(b('203.0.113.1'), b('203.0.113.254'), 96 + 24));
    assert.ok(!samePrefix(b('203.0.113.1'), b('203.0.112.1'), 96 + 24));
    assert.ok(samePrefix(b('203.0.113.1'), b('203.0.112.1'), 96 + 23));
    assert.ok(samePrefix(b('2001:db8:1:200::'), b('2001:db8:1:2ff::1'), 56));
    assert.ok(!samePrefix(b('2001:db8:1:200::'), b('2001:db8:1:300::'), 56));
  });

  it('refuses bits outside 0..128 or not whole (TypeError) instead of comparing less', () => {
    const a = Buffer.alloc(16);
    for (const bits of [-1, 129, 1.5, Number.NaN, Infinity]) assert.throws(() => samePrefix(a, a, bits), TypeError, String(bits));
  });
});
