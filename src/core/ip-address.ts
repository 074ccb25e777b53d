import { isIPv4, isIPv6 } from 'node:net';

// Client addresses are compared as 16-byte IPv6 addresses; IPv4 is held in its IPv4-mapped
// form (::ffff:a.b.c.d) so that a server seeing "127.0.0.1" and one seeing
// "::ffff:127.0.0.1" agree.

export function addressToBytes(address: string): Buffer | undefined {
  const zoneless = address.split('%')[0] ?? '';
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
    groups = [...left, ...new Array<number>(Math.max(0, 8 - left.length - right.length)).fill(0), ...right];
  }
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g & 0xffff, i * 2));
  return out;
}

export function isIPv4Mapped(bytes: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** True when the first `bits` bits of a and b agree. */
export function samePrefix(a: Buffer, b: Buffer, bits: number): boolean {
  const whole = bits >> 3;
  if (a.compare(b, 0, whole, 0, whole) !== 0) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}
