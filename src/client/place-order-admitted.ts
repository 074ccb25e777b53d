import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceptionClient } from './reception-client.js';
import type { OrderPlaced } from './reception-types.js';
import { TesseraClientError } from './tessera-client-error.js';

// Placing an order when the reception may answer "every server is busy" (503 + Retry-After,
// R9). This is the one place where a client waits for admission: `whenBusy` decides, for each
// 503, how long to wait before asking again, or that it is time to give up. Without a policy
// the refusal is thrown at once.
//
// Issue 3 extends this loop (queue token, position, estimated wait); callers keep calling
// placeOrderAdmitted and only change the policy they pass.

export interface BusyRefusal {
  readonly error: TesseraClientError;
  /** 1 for the first refusal of this order. */
  readonly attempt: number;
}

/** Milliseconds to wait before the next try, or undefined to give up (the refusal is thrown). */
export type BusyPolicy = (refusal: BusyRefusal) => number | undefined | Promise<number | undefined>;

export interface AdmissionOptions {
  readonly signal?: AbortSignal;
  readonly whenBusy?: BusyPolicy;
}

export function isBusyRefusal(error: unknown): error is TesseraClientError {
  return error instanceof TesseraClientError && error.status === 503;
}

export async function placeOrderAdmitted(reception: ReceptionClient, contentId: string, options: AdmissionOptions = {}): Promise<OrderPlaced> {
  const { signal, whenBusy } = options;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await reception.placeOrder(contentId, signal ? { signal } : {});
    } catch (error) {
      if (!isBusyRefusal(error) || whenBusy === undefined) throw error;
      const delayMs = await whenBusy({ error, attempt });
      if (delayMs === undefined) throw error;
      await sleep(delayMs, undefined, signal ? { signal } : {}).catch((sleepError: unknown) => {
        throw signal?.aborted ? signal.reason : sleepError;
      });
    }
  }
}
