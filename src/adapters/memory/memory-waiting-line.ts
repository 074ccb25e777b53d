import { systemClock, type Clock } from '../../core/clock.js';
import type { LostListener, SharedStateCapabilities } from '../../ports/shared-state-capabilities.js';
import { SharedStateLost } from '../../ports/shared-state-lost.js';
import type { LineEntry, WaitingLine } from '../../ports/waiting-line.js';

// The waiting line of one process. Entries are kept sorted by arrival number (new arrivals
// have the highest numbers, so inserting is an append in practice). Like the Redis line it
// starts unbuilt: whatever process holds it has just started, and the order store may hold
// orders that were waiting before, so the first `rebuild` brings them in before anyone is
// answered.

interface LineState {
  readonly byId: Map<string, { seq: number; returnBy: number; contentId: string }>;
  /** Order IDs, ascending by seq. */
  readonly order: string[];
  whole: boolean;
  turn: { holder: string; until: number } | undefined;
}

function checkEntry(entry: LineEntry): void {
  if (typeof entry.contentId !== 'string' || entry.contentId === '') throw new TypeError('contentId must be a non-empty string');
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 1) throw new TypeError('seq must be a positive safe integer');
  if (!Number.isFinite(entry.returnBy)) throw new TypeError('returnBy must be a finite number');
}

export class MemoryWaitingLine implements WaitingLine {
  readonly capabilities: SharedStateCapabilities = { crossProcess: false, losesStateOnStoreRestart: false };
  readonly #s: LineState;
  readonly #clock: Clock;

  /** `clock` times the admission turn only; everything else takes `now` from the caller. */
  constructor(clock: Clock = systemClock, state?: LineState) {
    this.#clock = clock;
    this.#s = state ?? { byId: new Map(), order: [], whole: false, turn: undefined };
  }

  /** Another handle on the same line. */
  share(): MemoryWaitingLine {
    return new MemoryWaitingLine(this.#clock, this.#s);
  }

  async takeTurn(holder: string, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new TypeError('ttlMs must be positive');
    const now = this.#clock.now();
    const turn = this.#s.turn;
    if (turn !== undefined && turn.holder !== holder && turn.until > now) return false;
    this.#s.turn = { holder, until: now + ttlMs };
    return true;
  }

  async endTurn(holder: string): Promise<void> {
    if (this.#s.turn?.holder === holder) this.#s.turn = undefined;
  }

  async join(entry: LineEntry): Promise<boolean> {
    checkEntry(entry);
    this.#whole();
    if (this.#s.byId.has(entry.orderId)) return false;
    this.#insert(entry);
    return true;
  }

  async touch(orderId: string, returnBy: number, now: number): Promise<boolean> {
    this.#whole();
    const e = this.#s.byId.get(orderId);
    if (e === undefined || e.returnBy < now) return false;
    e.returnBy = returnBy;
    return true;
  }

  front(now: number, limit: number): Promise<readonly LineEntry[]> {
    return this.after(Number.NEGATIVE_INFINITY, now, limit);
  }

  async after(afterSeq: number, now: number, limit: number): Promise<readonly LineEntry[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError('limit must be a positive integer');
    this.#whole();
    const out: LineEntry[] = [];
    for (const orderId of this.#s.order) {
      const e = this.#s.byId.get(orderId);
      if (e === undefined || e.returnBy < now || e.seq <= afterSeq) continue;
      out.push({ orderId, contentId: e.contentId, seq: e.seq, returnBy: e.returnBy });
      if (out.length === limit) break;
    }
    return out;
  }

  async position(orderId: string, now: number): Promise<number | undefined> {
    this.#whole();
    const mine = this.#s.byId.get(orderId);
    if (mine === undefined || mine.returnBy < now) return undefined;
    let ahead = 0;
    for (const id of this.#s.order) {
      if (id === orderId) break;
      const e = this.#s.byId.get(id);
      if (e !== undefined && e.returnBy >= now) ahead++;
    }
    return ahead + 1;
  }

  async length(now: number): Promise<number> {
    this.#whole();
    let n = 0;
    for (const e of this.#s.byId.values()) if (e.returnBy >= now) n++;
    return n;
  }

  async remove(orderId: string): Promise<boolean> {
    if (!this.#s.byId.delete(orderId)) return false;
    const at = this.#s.order.indexOf(orderId);
    if (at >= 0) this.#s.order.splice(at, 1);
    return true;
  }

  async removeLapsed(now: number, limit: number): Promise<readonly LineEntry[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError('limit must be a positive integer');
    const lapsed: LineEntry[] = [];
    for (const orderId of this.#s.order) {
      const e = this.#s.byId.get(orderId);
      if (e !== undefined && e.returnBy < now) lapsed.push({ orderId, contentId: e.contentId, seq: e.seq, returnBy: e.returnBy });
      if (lapsed.length === limit) break;
    }
    for (const e of lapsed) await this.remove(e.orderId);
    return lapsed;
  }

  async rebuild(entries: readonly LineEntry[]): Promise<void> {
    entries.forEach(checkEntry);
    for (const entry of entries) {
      const held = this.#s.byId.get(entry.orderId);
      if (held === undefined) this.#insert(entry);
      else held.returnBy = Math.max(held.returnBy, entry.returnBy);
    }
    this.#s.whole = true;
  }

  onLost(_listener: LostListener): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {}

  #whole(): void {
    if (!this.#s.whole) throw new SharedStateLost('waiting-line');
  }

  #insert(entry: LineEntry): void {
    const s = this.#s;
    s.byId.set(entry.orderId, { seq: entry.seq, returnBy: entry.returnBy, contentId: entry.contentId });
    // Binary search from the back's point of view: arrivals are almost always the newest.
    let lo = 0;
    let hi = s.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const seq = s.byId.get(s.order[mid] as string)?.seq ?? 0;
      if (seq < entry.seq || (seq === entry.seq && (s.order[mid] as string) < entry.orderId)) lo = mid + 1;
      else hi = mid;
    }
    s.order.splice(lo, 0, entry.orderId);
  }
}
