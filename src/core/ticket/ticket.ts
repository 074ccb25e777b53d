import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { TesseraError } from '../errors.js';
import { bytesToUuid, isServerId, uuidToBytes } from '../ids.js';
import { addressToBytes, bytesToAddress, isIPv4Mapped, samePrefix } from '../ip-address.js';

// The permission ticket (seed 001 ¶0032, ¶0040–0042), format v1. See docs/tickets.md.
//
//   header (clear, authenticated as AAD)
//     u8   version            0x01 = AES-256-GCM under a per-content-server key
//     u32  kid                key ID (big-endian)
//     u8   audience length    1..32
//     ...  audience           the content server's ID (ASCII)
//     12   nonce              random
//   ciphertext of the conditions (fixed layout, length depends only on the binding mode)
//     16   ticket ID, 16 order ID, 16 content ID        (UUIDs)
//     u32  not-before, u32 expiry                       (Unix seconds)
//     u8   max parallel connections
//     u8   client binding: 0 off, 1 exact, 2 prefix
//     [u8 prefix bits (IPv6 space: 128 for exact, 96 + n for an IPv4 /n),
//      16 address (IPv4 as ::ffff:a.b.c.d)]             when the binding is not off
//   16     GCM tag
//
// The whole is written in unpadded base64url. Decoding is strict: the text must re-encode to
// itself, so one ticket has exactly one valid spelling.

export const TICKET_VERSION = 0x01;
export const MAX_TICKET_CHARS = 200;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BASE_PLAINTEXT = 16 * 3 + 4 + 4 + 1 + 1;
const BOUND_PLAINTEXT = BASE_PLAINTEXT + 1 + 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The client-address policy. For an IPv6 address `bits` is 0..128. For an IPv4 (or
 * IPv4-mapped) address it is the IPv4 prefix length 0..32, or the same prefix in IPv6 space,
 * 96..128 (`96 + 24` and `24` both mean a /24); 33..95 is refused, as it would reach past
 * ::ffff:0:0/96 and match IPv6 clients. Verified tickets give back IPv4 prefixes as 0..32 and
 * addresses in canonical text (dotted quad for IPv4, RFC 5952 for IPv6).
 */
export type ClientBinding =
  | { readonly mode: 'off' }
  | { readonly mode: 'exact'; readonly address: string }
  | { readonly mode: 'prefix'; readonly address: string; readonly bits: number };

export interface TicketClaims {
  readonly ticketId: string;
  readonly orderId: string;
  readonly contentId: string;
  /** The one content server that accepts this ticket. */
  readonly audience: string;
  /** Unix seconds. */
  readonly notBefore: number;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly maxConnections: number;
  readonly client: ClientBinding;
}

/** A content server's key for one key ID. Only the reception can derive these. */
export interface TicketKey {
  readonly kid: number;
  readonly secret: Buffer;
}

export type KeyLookup = (kid: number) => { readonly secret: Buffer } | 'retired' | undefined;

export interface VerifyPolicy {
  /** This content server's ID: a ticket for any other audience is refused. */
  readonly audience: string;
  readonly keys: KeyLookup;
  /** Unix milliseconds, from the caller's clock. */
  readonly nowMs: number;
  /** Allowed clock skew in seconds; bounded to MAX_CLOCK_TOLERANCE_S. */
  readonly clockToleranceS: number;
}

export const MAX_CLOCK_TOLERANCE_S = 60;

export function mintTicket(claims: TicketClaims, key: TicketKey): string {
  if (!isServerId(claims.audience)) throw new TypeError(`bad audience: ${claims.audience}`);
  if (!Number.isInteger(key.kid) || key.kid < 0 || key.kid > 0xffffffff) throw new TypeError('bad kid');
  if (key.secret.length !== 32) throw new TypeError('ticket keys are 32 bytes');
  if (!(claims.maxConnections >= 1 && claims.maxConnections <= 255)) throw new TypeError('maxConnections must be 1..255');
  if (!(claims.notBefore >= 0 && claims.expiresAt > claims.notBefore && claims.expiresAt <= 0xffffffff)) {
    throw new TypeError('bad validity window');
  }
  const audience = Buffer.from(claims.audience, 'ascii');
  const header = Buffer.alloc(1 + 4 + 1 + audience.length + NONCE_BYTES);
  header[0] = TICKET_VERSION;
  header.writeUInt32BE(key.kid, 1);
  header[5] = audience.length;
  audience.copy(header, 6);
  const nonce = randomBytes(NONCE_BYTES);
  nonce.copy(header, 6 + audience.length);

  const bound = claims.client.mode !== 'off';
  const plain = Buffer.alloc(bound ? BOUND_PLAINTEXT : BASE_PLAINTEXT);
  uuidToBytes(claims.ticketId, plain, 0);
  uuidToBytes(claims.orderId, plain, 16);
  uuidToBytes(claims.contentId, plain, 32);
  plain.writeUInt32BE(claims.notBefore, 48);
  plain.writeUInt32BE(claims.expiresAt, 52);
  plain[56] = claims.maxConnections;
  const client = claims.client;
  if (client.mode === 'off') {
    plain[57] = 0;
  } else {
    const address = addressToBytes(client.address);
    if (!address) throw new TypeError(`bad client address: ${client.address}`);
    plain[57] = client.mode === 'exact' ? 1 : 2;
    const bits = client.mode === 'exact' ? 128 : prefixBitsOnWire(address, client.bits);
    if (bits === undefined) {
      throw new TypeError(`prefix bits must be 0..32 or 96..128 for IPv4, 0..128 for IPv6: ${client.mode === 'prefix' ? client.bits : ''}`);
    }
    plain[58] = bits;
    address.copy(plain, 59);
  }

  const cipher = createCipheriv('aes-256-gcm', key.secret, nonce);
  cipher.setAAD(header);
  const body = Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return body.toString('base64url');
}

/** Strict unpadded base64url: the only accepted spelling is the canonical one. */
export function decodeStrictBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/**
 * Checks a ticket's form, key, audience, authenticity and validity window. The checks that
 * need the request (content, client address) and the server's state (notice, consumption)
 * are the caller's, with `checkClientAddress` for the address.
 */
export function verifyTicket(text: string, policy: VerifyPolicy): TicketClaims {
  if (text.length > MAX_TICKET_CHARS) throw new TesseraError('ticket-malformed', 'ticket is too long');
  const bytes = decodeStrictBase64url(text);
  if (!bytes) throw new TesseraError('ticket-malformed', 'ticket is not canonical base64url');
  if (bytes.length < 6) throw new TesseraError('ticket-malformed', 'ticket is truncated');
  if (bytes[0] !== TICKET_VERSION) throw new TesseraError('ticket-unsupported');
  const audienceLength = bytes[5] ?? 0;
  const headerLength = 6 + audienceLength + NONCE_BYTES;
  if (audienceLength < 1 || audienceLength > 32) throw new TesseraError('ticket-malformed', 'bad audience length');
  const bodyLength = bytes.length - headerLength - TAG_BYTES;
  if (bodyLength !== BASE_PLAINTEXT && bodyLength !== BOUND_PLAINTEXT) {
    throw new TesseraError('ticket-malformed', 'ticket has the wrong length');
  }
  const audience = bytes.toString('latin1', 6, 6 + audienceLength);
  if (audience !== policy.audience) throw new TesseraError('ticket-wrong-server');
  const kid = bytes.readUInt32BE(1);
  const key = policy.keys(kid);
  if (key === 'retired') throw new TesseraError('ticket-key-retired');
  if (!key) throw new TesseraError('ticket-unknown-key');

  const header = bytes.subarray(0, headerLength);
  const nonce = bytes.subarray(6 + audienceLength, headerLength);
  const sealed = bytes.subarray(headerLength, bytes.length - TAG_BYTES);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.secret, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(header);
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    plain = Buffer.concat([decipher.update(sealed), decipher.final()]);
  } catch {
    throw new TesseraError('ticket-invalid');
  }

  const mode = plain[57];
  const expectedLength = mode === 0 ? BASE_PLAINTEXT : BOUND_PLAINTEXT;
  // Authentic but inconsistent bodies can only come from a buggy minter; refuse them anyway.
  if ((mode !== 0 && mode !== 1 && mode !== 2) || plain.length !== expectedLength || plain[56] === 0) {
    throw new TesseraError('ticket-malformed', 'inconsistent ticket body');
  }
  let client: ClientBinding = { mode: 'off' };
  if (mode !== 0) {
    const wireBits = plain[58] ?? 0;
    const addressBytes = plain.subarray(59, 75);
    const v4 = isIPv4Mapped(addressBytes);
    if (wireBits > 128 || (v4 && wireBits < 96) || (mode === 1 && wireBits !== 128)) {
      throw new TesseraError('ticket-malformed', 'inconsistent ticket body');
    }
    const bits = v4 ? wireBits - 96 : wireBits;
    const address = bytesToAddress(addressBytes);
    client = mode === 1 ? { mode: 'exact', address } : { mode: 'prefix', address, bits };
  }
  const claims: TicketClaims = {
    ticketId: bytesToUuid(plain, 0),
    orderId: bytesToUuid(plain, 16),
    contentId: bytesToUuid(plain, 32),
    audience,
    notBefore: plain.readUInt32BE(48),
    expiresAt: plain.readUInt32BE(52),
    maxConnections: plain[56] ?? 1,
    client,
  };
  checkWindow(claims, policy.nowMs, policy.clockToleranceS);
  return claims;
}

export function checkWindow(claims: TicketClaims, nowMs: number, clockToleranceS: number): void {
  // NaN compares false both ways, so it would let every ticket through: fail closed instead.
  if (!Number.isFinite(nowMs) || Number.isNaN(clockToleranceS)) throw new TypeError('bad clock reading or tolerance');
  const tolerance = Math.min(Math.max(0, clockToleranceS), MAX_CLOCK_TOLERANCE_S);
  const now = nowMs / 1000;
  if (now + tolerance < claims.notBefore) throw new TesseraError('ticket-not-yet-valid');
  if (now - tolerance >= claims.expiresAt) throw new TesseraError('ticket-expired');
}

export function checkClientAddress(claims: TicketClaims, remoteAddress: string | undefined): void {
  const binding = claims.client;
  if (binding.mode === 'off') return;
  const seen = remoteAddress === undefined ? undefined : addressToBytes(remoteAddress);
  const bound = addressToBytes(binding.address);
  if (!seen || !bound) throw new TesseraError('ticket-wrong-client');
  // Claims built by hand may carry any number; out of range means "the whole address".
  const bits = binding.mode === 'exact' ? 128 : (prefixBitsOnWire(bound, binding.bits) ?? 128);
  if (!samePrefix(seen, bound, bits)) throw new TesseraError('ticket-wrong-client');
}

/**
 * A ClientBinding's prefix length as the ticket holds it: in IPv6 space. An IPv4 prefix below
 * 96 in IPv6 space would cover ::ffff:0:0/96 and more (every IPv4 client, and ::1), so for an
 * IPv4 address only 0..32 (its own family) and 96..128 (IPv6 space) have a meaning.
 */
function prefixBitsOnWire(address: Buffer, bits: number): number | undefined {
  if (!Number.isInteger(bits) || bits < 0 || bits > 128) return undefined;
  if (!isIPv4Mapped(address)) return bits;
  if (bits <= 32) return 96 + bits;
  return bits >= 96 ? bits : undefined;
}
