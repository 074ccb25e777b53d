import { isIPv4, isIPv6 } from 'node:net';

// Client addresses are compared as 16-byte IPv6 addresses; IPv4 is held in its IPv4-mapped
// form (::ffff:a.b.c.d) so that a server seeing "127.0.0.1" and one seeing
// "::ffff:127.0.0.1" agree.

export function addressToBytes(address: string): Buffer | undefined {
  // A zone ID belongs to a scoped IPv6 address only; node:net validates its spelling, so
  // "1.2.3.4%eth0" or a dangling "fe80::1%" is refused rather than quietly trimmed.
  const percent = address.indexOf('%');
  if (percent >= 0 && !isIPv6(address)) return undefined;
  const zoneless = percent >= 0 ? address.slice(0, percent) : address;
  if (isIPv4(zoneless)) {
    const out = Buffer.alloc(16);
    out[10] = 0xff;
    out[11] = 0xff;
    zoneless.split('.').forEach((part, i) => (out[12 + i] = Number(part)));
    return out;
  }
  if (!isIPv6(zoneless)) return undefined;
  let text = zoneless;
  const lastColon = text.lastIndexOf(':');
  const embedded = text.slice(lastColon + 1);
  if (embedded.includes('.')) {
    if (!isIPv4(embedded)) return undefined;
    const b = embedded.split('.').map(Number);
    const hi = (((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16);
    const lo = (((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = text.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  let groups: number[];
  if (halves.length === 1) {
    groups = parse(halves[0] ?? '');
  } else {
    const left = parse(halves[0] ?? '');
    const right = parse(halves[1] ?? '');
    // "::" stands for at least one zero group (RFC 4291 §2.2).
    if (left.length + right.length > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/**
 * The canonical text of a 16-byte address: dotted quad for an IPv4-mapped address, RFC 5952
 * form (lowercase, longest run of two or more zero groups as "::", leftmost on a tie) otherwise.
 */
export function bytesToAddress(bytes: Buffer): string {
  if (bytes.length !== 16) throw new TypeError('an address is 16 bytes');
  if (isIPv4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

export function isIPv4Mapped(bytes: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** True when the first `bits` bits of a and b agree. */
export function samePrefix(a: Buffer, b: Buffer, bits: number): boolean {
  // Out-of-range bits would make Buffer.compare throw, or (fractions) silently compare fewer.
  if (!Number.isInteger(bits) || bits < 0 || bits > 8 * Math.min(a.length, b.length)) {
    throw new TypeError(`prefix bits out of range: ${bits}`);
  }
  const whole = bits >> 3;
  if (a.compare(b, 0, whole, 0, whole) !== 0) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}
