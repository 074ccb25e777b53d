// What the flash-crowd runner hands its load-generator process, and what it gets back. Both
// sides run on one machine, so every time here is Date.now() (Unix ms) and comparable across
// processes.

/** 'line': clients follow the waiting-line contract. 'hammer': clients retry a new order every `retryMs` after any refusal. */
export type CrowdMode = 'line' | 'hammer';

export interface CrowdItem {
  readonly id: string;
  readonly size: number;
}

export interface CrowdConfig {
  readonly mode: CrowdMode;
  readonly receptionUrl: string;
  readonly items: readonly CrowdItem[];
  readonly clients: number;
  /** Clients arrive at uniformly random times within this window after `startAt`. */
  readonly arrivalWindowMs: number;
  readonly startAt: number;
  /** Seeds arrival times and item choices, so both systems meet the same crowd. */
  readonly seed: number;
  /** 'hammer': fixed delay before the next try. */
  readonly retryMs: number;
  /** 'line': `Prefer: wait=N` on every check. */
  readonly preferWaitS: number;
  /** Every client still at it then gives up. */
  readonly deadlineAt: number;
  /**
   * 'close': the download's connection closes when the body ends (curl; `tessera get`, which
   * exits). 'keep-alive': it stays open afterwards (a browser; a long-lived program using the
   * client library over Node's keep-alive global agent).
   */
  readonly downloadConnection: DownloadConnection;
}

export type DownloadConnection = 'close' | 'keep-alive';

/** One 503 that gave the client a place in line, as the client received it. */
export interface LineAnswer {
  readonly at: number;
  readonly position: number | null;
  readonly lineLength: number | null;
  readonly estimatedWaitS: number | null;
  readonly baselineS: number | null;
  readonly retryAfterS: number | null;
  readonly orderId: string | null;
}

export interface ClientRecord {
  readonly index: number;
  readonly localAddress: string;
  readonly itemIndex: number;
  readonly size: number;
  /** When the schedule said this client arrives. */
  readonly plannedAt: number;
  /** When its first request went out. */
  arrivedAt: number | null;
  /** When the first answer of any kind came back. */
  firstAnswerAt: number | null;
  /** Requests to the reception (every try and every check). */
  requests: number;
  /** Answers from the reception by status code ("201", "503", ...; "error" for no answer). */
  readonly statuses: Record<string, number>;
  /** 'line' only: every answer that held a place. */
  readonly answers: LineAnswer[];
  orderId: string | null;
  /** When the 201 with the ticket arrived. */
  admittedAt: number | null;
  downloadStartAt: number | null;
  firstByteAt: number | null;
  downloadEndAt: number | null;
  bytes: number;
  error: string | null;
}

export interface CrowdResult {
  readonly mode: CrowdMode;
  readonly records: readonly ClientRecord[];
  /** Event-loop delay of the load generator, ms: how much its own timestamps can be late. */
  readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Client i's loopback source address: 127.0.1.1, 127.0.1.2, …, 250 per /24. */
export function clientAddress(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 250 * 254) throw new RangeError(`no loopback address for client ${index}`);
  return `127.0.${1 + Math.floor(index / 250)}.${1 + (index % 250)}`;
}

/** mulberry32: a small seeded generator, so a run's crowd can be met again. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Arrival offsets (ms after the start) and item choices of the crowd, in client order. */
export function crowdPlan(config: Pick<CrowdConfig, 'clients' | 'arrivalWindowMs' | 'seed' | 'items'>): { offsetMs: number; itemIndex: number }[] {
  const random = seededRandom(config.seed);
  return Array.from({ length: config.clients }, () => ({
    offsetMs: random() * config.arrivalWindowMs,
    itemIndex: Math.floor(random() * config.items.length),
  }));
}
