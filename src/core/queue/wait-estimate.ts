// When will the k-th client in line be admitted? (R9, seed 001 ¶0044–0050)
//
// The content servers report, for every taken slot, how many bytes are still to send and at
// what rate, or until when a held slot is kept. From that each slot's next freeing time is
// known. The line ahead of a client is known too (each waiting order's item size). So the
// reception replays the line: the earliest-freeing slot takes the first client in line, is
// busy for that client's predicted slot time, frees again, and so on. Client k is admitted
// at the k-th freeing. With no report to go on, the history of service times is used instead.
//
// A client's slot time is its transfer (size ÷ the per-transfer rate) plus the slot's
// overhead: the time a slot is neither transferring nor free to give to the next client
// (the client fetching its ticket, the content server waiting for delivery evidence after
// the last byte, the reception hearing of the release and sending the next notice). The
// overhead is measured, not assumed: see slot-overhead.ts.

export interface SlotForecast {
  /** Unix ms when the slot is predicted to free. For a free slot: now. */
  readonly freeAt: number;
  /** Bytes per second one transfer gets on this slot's server. */
  readonly perTransferRate: number;
}

export interface WaitingClient {
  /** Bytes of the item this client waits for. */
  readonly size: number;
}

export interface ServiceHistory {
  /** Smoothed service time of one order, ms, or undefined when nothing has been served yet. */
  readonly meanServiceMs: number | undefined;
}

/**
 * The replay of the line, one client at a time, so that clients who join the end of the line
 * later can be forecast without replaying those ahead of them again.
 */
export class AdmissionReplay {
  /** Slots sorted by when they free; slot counts are small (hundreds), so a sorted array with binary insertion does. */
  readonly #slots: { freeAt: number; rate: number }[];
  readonly #history: ServiceHistory;
  readonly #overheadMs: number;

  /**
   * `slots` are the slots of the servers that hold the item(s); `overheadMs` is the slot time
   * each admission costs on top of its transfer (may be negative when transfers run faster
   * than the reported rate, but a slot time never drops below zero).
   */
  constructor(slots: readonly SlotForecast[], nowMs: number, history: ServiceHistory, overheadMs = 0) {
    this.#slots = slots.map((s) => ({ freeAt: Math.max(nowMs, s.freeAt), rate: s.perTransferRate })).sort((a, b) => a.freeAt - b.freeAt);
    this.#history = history;
    this.#overheadMs = Number.isFinite(overheadMs) ? overheadMs : 0;
  }

  /** Predicted admission time (Unix ms) of the next client in line; Infinity when there is no slot at all. */
  next(client: WaitingClient): number {
    const slot = this.#slots.shift();
    if (!slot) return Infinity;
    const slotTimeMs = Math.max(0, serviceTimeMs(client.size, slot.rate, this.#history) + this.#overheadMs);
    insertSorted(this.#slots, { freeAt: slot.freeAt + slotTimeMs, rate: slot.rate });
    return slot.freeAt;
  }
}

/**
 * Predicted admission time (Unix ms) for every client in `line`, in line order.
 * `slots` are the slots of the servers that hold the item(s).
 */
export function predictAdmissions(
  slots: readonly SlotForecast[],
  line: readonly WaitingClient[],
  nowMs: number,
  history: ServiceHistory,
  /** Slot time per admission on top of the transfer (see AdmissionReplay). */
  overheadMs = 0,
): number[] {
  const replay = new AdmissionReplay(slots, nowMs, history, overheadMs);
  return line.map((client) => replay.next(client));
}

export function serviceTimeMs(size: number, perTransferRate: number, history: ServiceHistory): number {
  if (perTransferRate > 0) return (size / perTransferRate) * 1000;
  return history.meanServiceMs ?? 1000;
}

function insertSorted<T extends { freeAt: number }>(list: T[], item: T): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as T).freeAt <= item.freeAt) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, item);
}

/** The Cloudflare Waiting Room estimate, kept for comparison: people ahead ÷ recent outflow. */
export function positionOverOutflowMs(position: number, admissionsPerSecond: number): number {
  if (admissionsPerSecond <= 0) return Infinity;
  return (position / admissionsPerSecond) * 1000;
}

/** Exponentially weighted mean of service times, for when no report says better. */
export class ServiceTimeHistory implements ServiceHistory {
  #mean: number | undefined;
  readonly #alpha: number;

  constructor(alpha = 0.1) {
    this.#alpha = alpha;
  }

  get meanServiceMs(): number | undefined {
    return this.#mean;
  }

  record(serviceMs: number): void {
    if (!(serviceMs >= 0) || !Number.isFinite(serviceMs)) return;
    this.#mean = this.#mean === undefined ? serviceMs : this.#mean + this.#alpha * (serviceMs - this.#mean);
  }
}
