import { decodeStrictBase64url, type KeyLookup } from '../../core/ticket/ticket.js';
import type { ServerKeySet } from '../../core/ticket/ticket-keys.js';

// The ticket keys this content server holds, as handed out by the reception in load-report
// replies. Until the first key set arrives the ring is empty and every ticket for this server
// is refused with ticket-unknown-key. The secrets never leave this object: not in logs, not in
// /control/state, not in errors.

export class KeyRing {
  #keys = new Map<number, { readonly secret: Buffer }>();
  #retired = new Set<number>();
  #version = '';

  /** Version string of the installed set ('' before any), reported back to the reception. */
  get version(): string {
    return this.#version;
  }

  get size(): number {
    return this.#keys.size;
  }

  get kids(): readonly number[] {
    return [...this.#keys.keys()];
  }

  get retiredKids(): readonly number[] {
    return [...this.#retired];
  }

  readonly lookup: KeyLookup = (kid) => {
    if (this.#retired.has(kid)) return 'retired';
    return this.#keys.get(kid);
  };

  /**
   * Installs a key set after checking every part of it; a malformed set throws and changes
   * nothing. Returns false when the set equals the one already installed.
   */
  install(set: unknown): boolean {
    const parsed = parseKeySet(set);
    if (parsed.version === this.#version && sameKeys(parsed.keys, this.#keys) && sameKids(parsed.retired, this.#retired)) return false;
    this.#keys = parsed.keys;
    this.#retired = parsed.retired;
    this.#version = parsed.version;
    return true;
  }
}

function isKid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

function parseKeySet(value: unknown): { version: string; keys: Map<number, { secret: Buffer }>; retired: Set<number> } {
  if (typeof value !== 'object' || value === null) throw new TypeError('key set is not an object');
  const set = value as Partial<Record<keyof ServerKeySet, unknown>>;
  if (typeof set.version !== 'string' || set.version.length > 4096) throw new TypeError('key set version is not a string');
  if (!Array.isArray(set.keys) || !Array.isArray(set.retired)) throw new TypeError('key set lacks keys or retired');
  const keys = new Map<number, { secret: Buffer }>();
  for (const entry of set.keys as unknown[]) {
    if (typeof entry !== 'object' || entry === null) throw new TypeError('key entry is not an object');
    const { kid, secret } = entry as Record<string, unknown>;
    if (!isKid(kid) || typeof secret !== 'string') throw new TypeError('key entry has a bad kid or secret');
    const bytes = decodeStrictBase64url(secret);
    if (!bytes || bytes.length !== 32) throw new TypeError('key secret is not 32 bytes of base64url');
    keys.set(kid, { secret: bytes });
  }
  const retired = new Set<number>();
  for (const kid of set.retired as unknown[]) {
    if (!isKid(kid)) throw new TypeError('retired kid is not a key ID');
    retired.add(kid);
  }
  return { version: set.version, keys, retired };
}

function sameKeys(a: ReadonlyMap<number, { secret: Buffer }>, b: ReadonlyMap<number, { secret: Buffer }>): boolean {
  if (a.size !== b.size) return false;
  for (const [kid, { secret }] of a) if (!b.get(kid)?.secret.equals(secret)) return false;
  return true;
}

function sameKids(a: ReadonlySet<number>, b: ReadonlySet<number>): boolean {
  return a.size === b.size && [...a].every((kid) => b.has(kid));
}
