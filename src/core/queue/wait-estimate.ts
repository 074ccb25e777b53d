// When will the k-th client in line be admitted? (R9, seed 001 ¶0044–0050)
//
// The content servers report, for every taken slot, how many bytes are still to send and at
// what rate, or until when a held slot is kept. From that each slot's next freeing time is
// known. The line ahead of a client is known too (each waiting order's item size). So the
// reception replays the line: the earliest-freeing slot takes the first client in line, is
// busy for that client's predicted service time, frees again, and so on. Client k is admitted
// at the k-th freeing. With no report to go on, the history of service times is used instead.

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
 * Predicted admission time (Unix ms) for every client in `line`, in line order.
 * `slots` are the slots of the servers that hold the item(s).
 */
export function predictAdmissions(
  slots: readonly SlotForecast[],
  line: readonly WaitingClient[],
  nowMs: number,
  history: ServiceHistory,
  /** Time from admission to the first byte flowing: the client's retry and its ticket fetch. */
  startupMs = 0,
): number[] {
  if (slots.length === 0) return line.map(() => Infinity);
  // A binary heap keyed on freeAt; slot counts are small (hundreds), so a sorted array with
  // binary insertion is as fast and far simpler.
  const heap = slots.map((s) => ({ freeAt: Math.max(nowMs, s.freeAt), rate: s.perTransferRate })).sort((a, b) => a.freeAt - b.freeAt);
  const out: number[] = [];
  for (const client of line) {
    const slot = heap.shift();
    if (!slot) break;
    out.push(slot.freeAt);
    const serviceMs = serviceTimeMs(client.size, slot.rate, history);
    insertSorted(heap, { freeAt: slot.freeAt + startupMs + serviceMs, rate: slot.rate });
  }
  return out;
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
