import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Protects what crosses Redis. On the HTTP control channel every content server proves itself
// with its bearer token; on Redis anyone who can connect could post a report, answer a notice
// or forge a completion in a server's name, and read whatever passes. So every message about
// server X is sealed under X's key: receptions derive every server's key from the root secret,
// a content server holds only its own. Load reports and completions are signed
// (HMAC-SHA-256); requests and their answers are encrypted as well (AES-256-GCM), because the
// server's settings carry its ticket keys.

export interface MessageSeal {
  /** The key (32 bytes) for messages about `serverId`; undefined when this process has none. */
  keyFor(serverId: string): Buffer | undefined;
}

export type SealMode = 'sign' | 'encrypt';

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

/**
 * `payload` as it goes on the wire. Without a seal it goes plain (for a Redis on a trusted
 * network, and tests). Throws TypeError when a seal is configured but holds no key for the server.
 */
export function sealMessage(seal: MessageSeal | undefined, serverId: string, payload: string, mode: SealMode): string {
  if (seal === undefined) return `u.${payload}`;
  const key = seal.keyFor(serverId);
  if (key === undefined) throw new TypeError(`no key to seal messages about server ${serverId}`);
  if (mode === 'sign') return `s.${mac(key, payload)}.${payload}`;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(serverId));
  const body = Buffer.concat([cipher.update(payload, 'utf8'), cipher.final()]);
  return `e.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/**
 * The payload of a message about `serverId` read off the wire; undefined when it fails the
 * check, is sealed more weakly than `mode` asks, or is plain while a seal is configured.
 */
export function openMessage(seal: MessageSeal | undefined, serverId: string, wire: string, mode: SealMode): string | undefined {
  if (seal === undefined) return wire.startsWith('u.') ? wire.slice(2) : undefined;
  const key = seal.keyFor(serverId);
  if (key === undefined) return undefined;
  if (wire.startsWith('s.') && mode === 'sign') {
    const at = wire.indexOf('.', 2);
    if (at < 0) return undefined;
    const payload = wire.slice(at + 1);
    const given = Buffer.from(wire.slice(2, at));
    const expected = Buffer.from(mac(key, payload));
    return given.length === expected.length && timingSafeEqual(given, expected) ? payload : undefined;
  }
  if (wire.startsWith('e.')) {
    const raw = Buffer.from(wire.slice(2), 'base64url');
    if (raw.length < 28) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(serverId));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The JSON value of an opened payload; undefined when it is not JSON. A message that passed its
 * seal can still be one this version does not read (another version wrote it, or no seal is
 * configured): it must be ignored with a warning, never thrown from a Redis event handler.
 */
export function parseMessage(payload: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(payload);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
