import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { isServerId } from '../ids.js';
import type { TicketKey } from './ticket.js';

// Key hierarchy. Only the reception holds the root secret. From it, for each key ID (kid), it
// derives one 32-byte ticket key per content server:
//
//   key(kid, server) = HKDF-SHA256(ikm = root, salt = "tessera/ticket-key/v1", info = kid || server)
//
// A content server receives only its own keys (over the authenticated control channel), so it
// can verify — and at worst mint — tickets for itself alone, never for another server.
// Rotation adds a kid; the old kid stays accepted for a grace period (at least the longest
// ticket lifetime) and is then retired: content servers drop it and refuse its tickets with
// `ticket-key-retired`.

const TICKET_SALT = Buffer.from('tessera/ticket-key/v1');

export function deriveTicketKey(root: Buffer, kid: number, serverId: string): TicketKey {
  // The info is kid || server ID; a server ID outside its pattern (say, non-ASCII) would be
  // written short and could collide with another server's derivation.
  if (!isServerId(serverId)) throw new TypeError(`bad server id: ${serverId}`);
  if (!Number.isInteger(kid) || kid < 0 || kid > 0xffffffff) throw new TypeError('bad kid');
  const info = Buffer.alloc(4 + Buffer.byteLength(serverId));
  info.writeUInt32BE(kid, 0);
  info.write(serverId, 4, 'ascii');
  return { kid, secret: Buffer.from(hkdfSync('sha256', root, TICKET_SALT, info, 32)) };
}

/** A secret for one purpose (control-channel tokens, queue tokens, admin token), from the root. */
export function derivePurposeSecret(root: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.from('tessera/purpose/v1'), Buffer.from(purpose), 32));
}

/** The bearer token a content server uses on the control channel; it names the server. */
export function controlToken(root: Buffer, serverId: string): string {
  const mac = createHmac('sha256', derivePurposeSecret(root, 'control')).update(serverId).digest('base64url');
  return `${serverId}.${mac}`;
}

export function checkControlToken(root: Buffer, token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  const serverId = token.slice(0, dot);
  const expected = Buffer.from(controlToken(root, serverId));
  const given = Buffer.from(token);
  return expected.length === given.length && timingSafeEqual(expected, given) ? serverId : undefined;
}

/** One key ID in the reception's keyring. Times are Unix ms. */
export interface KeyEpoch {
  readonly kid: number;
  readonly createdAt: number;
  /** When it stopped minting (a newer kid became active); null while it is the active one. */
  readonly supersededAt: number | null;
  /** When content servers stop accepting it. */
  readonly retiresAt: number | null;
}

/** The kid that mints now: the newest that is not superseded. */
export function activeEpoch(epochs: readonly KeyEpoch[]): KeyEpoch | undefined {
  let best: KeyEpoch | undefined;
  for (const e of epochs) if (e.supersededAt === null && (!best || e.kid > best.kid)) best = e;
  return best;
}

/** What one content server should hold: keys still accepted, and kids already retired. */
export interface ServerKeySet {
  readonly version: string;
  readonly keys: readonly { readonly kid: number; readonly secret: string }[];
  readonly retired: readonly number[];
}

function liveAndRetired(epochs: readonly KeyEpoch[], nowMs: number): { live: KeyEpoch[]; retired: number[] } {
  const live = epochs.filter((e) => e.retiresAt === null || e.retiresAt > nowMs).sort((a, b) => a.kid - b.kid);
  const retired = epochs.filter((e) => e.retiresAt !== null && e.retiresAt <= nowMs).map((e) => e.kid).sort((a, b) => a - b);
  return { live, retired };
}

const versionOf = (live: readonly KeyEpoch[], retired: readonly number[]): string => `${live.map((e) => e.kid).join(',')}/${retired.join(',')}`;

/** The version serverKeySet would give, without deriving any key: the same for every server. */
export function serverKeySetVersion(epochs: readonly KeyEpoch[], nowMs: number): string {
  const { live, retired } = liveAndRetired(epochs, nowMs);
  return versionOf(live, retired);
}

export function serverKeySet(root: Buffer, serverId: string, epochs: readonly KeyEpoch[], nowMs: number): ServerKeySet {
  const { live, retired } = liveAndRetired(epochs, nowMs);
  return {
    version: versionOf(live, retired),
    keys: live.map((e) => ({ kid: e.kid, secret: deriveTicketKey(root, e.kid, serverId).secret.toString('base64url') })),
    retired,
  };
}

/** The kids a content server holds, read from the key-set version it reports. */
export function liveKidsOf(keySetVersion: string): number[] {
  const live = keySetVersion.split('/')[0] ?? '';
  return live === '' ? [] : live.split(',').map(Number).filter((kid) => Number.isInteger(kid));
}
