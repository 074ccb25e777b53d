import { setTimeout as sleep } from 'node:timers/promises';
import { lowerFirst } from './format.js';
import type { ReceptionClient } from './reception-client.js';
import { linePlaceOf } from './reception-decoders.js';
import type { LinePlace, OrderPlaced } from './reception-types.js';
import { TesseraClientError } from './tessera-client-error.js';

// Placing an order when every content server may be busy (R9, R10; notes/reception-api.md,
// "Waiting when every server is busy"). The reception answers 503 all-servers-busy with a place
// in line and a queue token; we come back at retry_at with the latest token and
// `Prefer: wait=N`, again and again, until the order is admitted (201). A place is kept only
// while we keep coming back, so an interruption (abort, give-up) just lets it lapse.
//
// What is retried, and what is not:
// - 503 with a queue token: a place in line. Waited for without limit (abort with the signal).
// - 429 rate-limited, 503 queue-full or a 503 without a token, and, while holding a place, a
//   lost connection: waited for (Retry-After) a bounded number of times in a row.
// - 410 queue-place-lost, 403 queue-token-invalid and everything else: thrown. A lost place is
//   never silently replaced by a new order: that would be a new place at the back of the line,
//   and the caller decides whether it wants one.

export type AdmissionEvent =
  /** The reception answered: still in line. Times are this machine's epoch ms. */
  | {
      readonly type: 'waiting';
      readonly orderId: string | undefined;
      readonly position: number | undefined;
      readonly lineLength: number | undefined;
      /** The reception's estimate at `answeredAt`; count it down from there. */
      readonly estimatedWaitS: number | undefined;
      readonly answeredAt: number;
      /** When the next check starts. */
      readonly retryAt: number;
      /** Answers received so far. */
      readonly checks: number;
    }
  /** A refusal that holds no place (rate-limited, queue-full, ...); tried again at `retryAt`. */
  | {
      readonly type: 'retrying';
      readonly code: string;
      readonly reason: string;
      readonly retryAt: number;
      readonly attempt: number;
      readonly maxAttempts: number;
    }
  /** An order that was refused at first is admitted: the 201 came. Not sent when the first try succeeds. */
  | { readonly type: 'admitted'; readonly orderId: string; readonly waitedMs: number; readonly checks: number };

export interface AdmissionOptions {
  readonly signal?: AbortSignal;
  /** 'wait' (default): wait in line until admitted. 'fail': throw the first refusal. */
  readonly whenBusy?: 'wait' | 'fail';
  readonly onEvent?: (event: AdmissionEvent) => void;
  /** Refusals in a row that hold no place (429, queue-full, ...) before giving up (default 5). */
  readonly maxRetries?: number;
  /** How long the reception may hold a check until admission (`Prefer: wait`, default 20 s). */
  readonly preferWaitS?: number;
}

/** Spread added to a Retry-After that holds no place in line. */
const RETRY_JITTER_MS = 1000;

/** A first order gets a quick answer; a check may be held up to preferWaitS by the reception. */
const FIRST_ORDER_TIMEOUT_MS = 30_000;
const CHECK_TIMEOUT_MARGIN_MS = 15_000;
/** Keeps a reception that answers "come back now" forever from turning us into a busy loop. */
const MIN_CHECK_DELAY_MS = 100;
const DEFAULT_RETRY_AFTER_S = 2;
const RECONNECT_DELAY_MS = 1_000;

/** A 503 that means "busy": with a place in line, or a full line, or no line at all. */
export function isBusyRefusal(error: unknown): error is TesseraClientError {
  return error instanceof TesseraClientError && (error.code === 'all-servers-busy' || error.code === 'queue-full');
}

/**
 * How long to wait before coming back for `place`. retry_at is exact but in the reception's
 * clock; Retry-After is relative, so immune to clock skew, but rounded to whole seconds. So
 * retry_at is trusted only within the second that Retry-After rounds to.
 */
export function checkDelayMs(place: Pick<LinePlace, 'retryAt' | 'retryAfterS'>, nowMs: number): number {
  const at = place.retryAt === undefined ? undefined : Date.parse(place.retryAt) - nowMs;
  const after = place.retryAfterS === undefined ? undefined : place.retryAfterS * 1000;
  let delay: number;
  if (after === undefined) delay = at ?? DEFAULT_RETRY_AFTER_S * 1000;
  else if (at === undefined) delay = after;
  else delay = Math.min(after, Math.max(after - 1000, at));
  return Math.max(MIN_CHECK_DELAY_MS, delay);
}

export async function placeOrderAdmitted(reception: ReceptionClient, contentId: string, options: AdmissionOptions = {}): Promise<OrderPlaced> {
  const { signal, onEvent } = options;
  const waitInLine = (options.whenBusy ?? 'wait') === 'wait';
  const maxRetries = options.maxRetries ?? 5;
  const preferWaitS = options.preferWaitS ?? 20;
  const startedAt = Date.now();
  let token: string | undefined;
  let checks = 0;
  /** Refusals in a row that held no place. */
  let strays = 0;

  for (;;) {
    try {
      const placed = await reception.placeOrder(
        contentId,
        token === undefined
          ? { signal, timeoutMs: FIRST_ORDER_TIMEOUT_MS }
          : { signal, queueToken: token, preferWaitS, timeoutMs: preferWaitS * 1000 + CHECK_TIMEOUT_MARGIN_MS },
      );
      if (checks > 0) onEvent?.({ type: 'admitted', orderId: placed.order.id, waitedMs: Date.now() - startedAt, checks: checks + 1 });
      return placed;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!(error instanceof TesseraClientError) || !waitInLine) throw error;
      checks += 1;
      const now = Date.now();
      const place = linePlaceOf(error);
      let delayMs: number;
      if (place !== undefined) {
        // The latest token always: a reception may refresh it with every answer.
        token = place.queueToken;
        strays = 0;
        delayMs = checkDelayMs(place, now);
        onEvent?.({
          type: 'waiting',
          orderId: place.orderId,
          position: place.position,
          lineLength: place.lineLength,
          estimatedWaitS: place.estimatedWaitS,
          answeredAt: now,
          retryAt: now + delayMs,
          checks,
        });
      } else if (isRetryable(error, token !== undefined)) {
        strays += 1;
        if (strays > maxRetries) throw gaveUp(error, strays);
        // Retry-After says "not before"; up to a second more, at random, so that clients turned
        // away together do not all come back in the same instant and find the fleet full together.
        delayMs = error.code === 'connection-failed' ? RECONNECT_DELAY_MS : (error.retryAfterS ?? DEFAULT_RETRY_AFTER_S) * 1000 + Math.floor(Math.random() * RETRY_JITTER_MS);
        onEvent?.({
          type: 'retrying',
          code: error.code,
          reason: error.detail ?? error.title,
          retryAt: now + delayMs,
          attempt: strays,
          maxAttempts: maxRetries,
        });
      } else {
        throw error;
      }
      await sleep(delayMs, undefined, signal ? { signal } : {}).catch((sleepError: unknown) => {
        throw signal?.aborted ? signal.reason : sleepError;
      });
    }
  }
}

/** Refusals worth a bounded number of tries; `inLine` when we hold a place that a retry keeps. */
function isRetryable(error: TesseraClientError, inLine: boolean): boolean {
  switch (error.code) {
    case 'rate-limited':
    case 'queue-full':
    case 'all-servers-busy':
      return true;
    case 'connection-failed':
      return inLine;
    default:
      return false;
  }
}

function gaveUp(error: TesseraClientError, tries: number): TesseraClientError {
  return new TesseraClientError({
    status: error.status,
    code: error.code,
    title: error.title,
    detail: `gave up after ${tries} tries: ${lowerFirst(error.detail ?? error.title)}`,
    retryAfterS: error.retryAfterS,
    problem: error.problem,
    cause: error,
  });
}
