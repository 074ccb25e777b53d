// The IDs of used-up (and withdrawn) tickets, held until no request under them could pass
// verification any more (their window has closed), so that a used ticket is refused (R8).
//
// There are as many as tickets are served within one ticket lifetime: at 20,000 small items a
// second and a two-minute window, 2.4 million. Held as JavaScript strings in a Set, each cost
// about 100 bytes of heap that every old-generation GC walks, the Set's rehash on growth copied
// millions of entries at once, and a lookup was a cache miss on a scattered heap: together about
// 5 % of a small request's CPU in a profile. So the 128-bit IDs live off the JS heap, in one
// open-addressing table of typed arrays (20 bytes a slot), with the second each may be
// forgotten.
//
// Forgetting is lazy: `forget(now)` only moves a horizon, and an entry whose second is at or
// before it counts as absent; its slot is reused by a later insert and dropped at the next
// rebuild. Per-second counts keep `size` exact without walking the table.

const MIN_SLOTS = 1024;
/** Rebuild (grow, or drop forgotten entries) when this share of slots has ever been used. */
const MAX_LOAD = 0.7;

export class ConsumedTickets {
  /** Four 32-bit words of the ID per slot. */
  #ids: Uint32Array;
  /** The second (Unix, ceil of the forget time) from which the ID is forgotten; 0: empty slot. */
  #until: Uint32Array;
  #mask: number;
  /** Slots not empty, forgotten entries included (they keep probe chains intact). */
  #used = 0;
  #size = 0;
  /** Entries held, by their forget second. */
  readonly #countBySecond = new Map<number, number>();
  /** Every entry whose forget second is at or before this is forgotten. */
  #horizon = 0;
  readonly #key = new Uint32Array(4);

  constructor(initialSlots = MIN_SLOTS) {
    const slots = powerOfTwoAtLeast(Math.max(MIN_SLOTS, initialSlots));
    this.#ids = new Uint32Array(slots * 4);
    this.#until = new Uint32Array(slots);
    this.#mask = slots - 1;
  }

  /** IDs held (not yet forgotten). */
  get size(): number {
    return this.#size;
  }

  /** False for anything that is not a UUID: such an ID is never added. */
  has(ticketId: string): boolean {
    if (!parseUuid(ticketId, this.#key)) return false;
    const slot = this.#find();
    return slot >= 0 && (this.#until[slot] as number) > this.#horizon;
  }

  /** Holds `ticketId` until `forgetAtMs` (Unix ms); an ID already held keeps the later time. */
  add(ticketId: string, forgetAtMs: number): void {
    // Stored in 32 bits: a window that closes after 2106 is simply never forgotten.
    const second = Math.min(Math.ceil(forgetAtMs / 1000), 0xffffffff);
    // Past the horizon already: no request under it can pass verification.
    if (second <= this.#horizon) return;
    if (!parseUuid(ticketId, this.#key)) throw new TypeError(`not a UUID: ${ticketId}`);
    if ((this.#used + 1) / (this.#mask + 1) > MAX_LOAD) this.#rebuild(this.#size + 1);
    const found = this.#find();
    if (found >= 0) {
      const until = this.#until[found] as number;
      if (until > this.#horizon) {
        if (second <= until) return;
        this.#count(until, -1);
      } else {
        this.#size++;
      }
      this.#until[found] = second;
      this.#count(second, 1);
      return;
    }
    const slot = this.#freeSlot();
    if ((this.#until[slot] as number) === 0) this.#used++;
    const ids = this.#ids;
    const key = this.#key;
    ids[slot * 4] = key[0] as number;
    ids[slot * 4 + 1] = key[1] as number;
    ids[slot * 4 + 2] = key[2] as number;
    ids[slot * 4 + 3] = key[3] as number;
    this.#until[slot] = second;
    this.#size++;
    this.#count(second, 1);
  }

  /**
   * Every ID still held, with the time (Unix ms, whole seconds) it may be forgotten: for
   * refilling a shared ledger that lost its copy (docs/scale-out.md, "Redis restarted").
   */
  entries(): { ticketId: string; forgetAt: number }[] {
    const out: { ticketId: string; forgetAt: number }[] = [];
    const ids = this.#ids;
    const until = this.#until;
    for (let slot = 0; slot < until.length; slot++) {
      const second = until[slot] as number;
      if (second <= this.#horizon) continue;
      const at = slot * 4;
      const hex = [ids[at], ids[at + 1], ids[at + 2], ids[at + 3]].map((w) => (w as number).toString(16).padStart(8, '0')).join('');
      out.push({
        ticketId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
        forgetAt: second * 1000,
      });
    }
    return out;
  }

  /** Forgets every ID whose time has come by `nowMs` (Unix ms). */
  forget(nowMs: number): void {
    const horizon = Math.floor(nowMs / 1000);
    if (horizon <= this.#horizon) return;
    this.#horizon = horizon;
    for (const [second, count] of this.#countBySecond) {
      if (second > horizon) continue;
      this.#countBySecond.delete(second);
      this.#size -= count;
    }
    // Mostly forgotten entries: give the memory back rather than wait for the next insert.
    if (this.#mask + 1 > MIN_SLOTS && this.#size * 8 < this.#used) this.#rebuild(this.#size);
  }

  /** The slot holding the key in #key (forgotten or not), or -1. */
  #find(): number {
    const ids = this.#ids;
    const until = this.#until;
    const mask = this.#mask;
    const key = this.#key;
    const k0 = key[0] as number;
    const k1 = key[1] as number;
    const k2 = key[2] as number;
    const k3 = key[3] as number;
    for (let slot = hash(k0, k1, k2, k3) & mask; ; slot = (slot + 1) & mask) {
      if ((until[slot] as number) === 0) return -1;
      const at = slot * 4;
      if (ids[at] === k0 && ids[at + 1] === k1 && ids[at + 2] === k2 && ids[at + 3] === k3) return slot;
    }
  }

  /** The first empty or forgotten slot on the key's probe chain. */
  #freeSlot(): number {
    const until = this.#until;
    const mask = this.#mask;
    const key = this.#key;
    for (let slot = hash(key[0] as number, key[1] as number, key[2] as number, key[3] as number) & mask; ; slot = (slot + 1) & mask) {
      if ((until[slot] as number) <= this.#horizon) return slot;
    }
  }

  #count(second: number, delta: number): void {
    const count = (this.#countBySecond.get(second) ?? 0) + delta;
    if (count === 0) this.#countBySecond.delete(second);
    else this.#countBySecond.set(second, count);
  }

  /** Moves the entries held into a table sized for `entries`, dropping forgotten ones. */
  #rebuild(entries: number): void {
    const oldIds = this.#ids;
    const oldUntil = this.#until;
    const slots = powerOfTwoAtLeast(Math.max(MIN_SLOTS, Math.ceil((entries * 2) / MAX_LOAD)));
    this.#ids = new Uint32Array(slots * 4);
    this.#until = new Uint32Array(slots);
    this.#mask = slots - 1;
    this.#used = 0;
    const ids = this.#ids;
    const until = this.#until;
    for (let from = 0; from < oldUntil.length; from++) {
      const second = oldUntil[from] as number;
      if (second <= this.#horizon) continue;
      const at = from * 4;
      const k0 = oldIds[at] as number;
      const k1 = oldIds[at + 1] as number;
      const k2 = oldIds[at + 2] as number;
      const k3 = oldIds[at + 3] as number;
      let slot = hash(k0, k1, k2, k3) & this.#mask;
      while ((until[slot] as number) !== 0) slot = (slot + 1) & this.#mask;
      ids[slot * 4] = k0;
      ids[slot * 4 + 1] = k1;
      ids[slot * 4 + 2] = k2;
      ids[slot * 4 + 3] = k3;
      until[slot] = second;
      this.#used++;
    }
  }
}

/** The 32 hex digits of a UUID as four words; false for anything else. */
function parseUuid(id: string, into: Uint32Array): boolean {
  if (id.length !== 36) return false;
  let word = 0;
  let digits = 0;
  let index = 0;
  for (let i = 0; i < 36; i++) {
    const c = id.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45 /* - */) return false;
      continue;
    }
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 97 && c <= 102) v = c - 87;
    else if (c >= 65 && c <= 70) v = c - 55;
    else return false;
    word = (word << 4) | v;
    if (++digits === 8) {
      into[index++] = word >>> 0;
      word = 0;
      digits = 0;
    }
  }
  return true;
}

function hash(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35), 0x27d4eb2f);
  h ^= h >>> 15;
  return h >>> 0;
}

function powerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
