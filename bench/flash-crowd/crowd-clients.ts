import type { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTesseraClientError, placeOrderAdmitted, ReceptionClient } from '../../src/client/index.js';
import type { ClientRecord, CrowdItem, DownloadConnection, LineAnswer } from './crowd-types.js';
import { discardDownload } from './discard-download.js';
import { loopbackFetch } from './loopback-fetch.js';

// The two kinds of client in the flash crowd.
//
// A line client is what `tessera get` does: the client library's placeOrderAdmitted (come back
// at retry_at with the latest queue token and `Prefer: wait=N`, until the 201), then the
// download. Every answer that holds a place is kept with the time it arrived, so its estimate
// can be compared with what happened.
//
// A hammering client is the usual alternative to a waiting line: a plain 503, and a client
// that orders again one second after every refusal, whatever Retry-After says.

const DOWNLOAD_IDLE_MS = 30_000;
const ORDER_TIMEOUT_MS = 30_000;

export interface ClientContext {
  readonly receptionUrl: string;
  readonly agent: Agent;
  readonly downloadConnection: DownloadConnection;
  readonly item: CrowdItem;
  readonly signal: AbortSignal;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** Counts every answer; for a 503 that holds a place, keeps what it said. */
function recorder(record: ClientRecord): (status: number, body: string, at: number) => void {
  return (status, body, at) => {
    record.statuses[String(status)] = (record.statuses[String(status)] ?? 0) + 1;
    record.firstAnswerAt ??= at;
    if (status !== 503) return;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof json['queueToken'] !== 'string') return;
    const answer: LineAnswer = {
      at,
      position: num(json['position']),
      lineLength: num(json['lineLength']),
      estimatedWaitS: num(json['estimated_wait_s']),
      baselineS: num(json['estimate_baseline_s']),
      retryAfterS: num(json['retryAfterS']),
      orderId: str(json['orderId']),
    };
    record.answers.push(answer);
    if (answer.orderId !== null) record.orderId = answer.orderId;
  };
}

/** Counts a request as it goes out: a request that never gets an answer still loaded the reception. */
function counting(record: ClientRecord, fetch: typeof globalThis.fetch): typeof globalThis.fetch {
  return async (input, init) => {
    record.requests++;
    record.arrivedAt ??= Date.now();
    try {
      return await fetch(input, init);
    } catch (error) {
      record.statuses['error'] = (record.statuses['error'] ?? 0) + 1;
      throw error;
    }
  };
}

async function download(ctx: ClientContext, record: ClientRecord, ticketUrl: string): Promise<void> {
  const done = await discardDownload(ticketUrl, ctx.downloadConnection === 'keep-alive' ? ctx.agent : false, record.localAddress, ctx.item.size, DOWNLOAD_IDLE_MS, ctx.signal);
  record.downloadStartAt = done.startAt;
  record.firstByteAt = done.firstByteAt;
  record.downloadEndAt = done.endAt;
  record.bytes = done.bytes;
}

export async function runLineClient(ctx: ClientContext, record: ClientRecord, preferWaitS: number): Promise<void> {
  const fetch = counting(record, loopbackFetch(record.localAddress, ctx.agent, recorder(record)));
  const reception = new ReceptionClient({ baseUrl: ctx.receptionUrl, fetch, userAgent: 'tessera-bench-crowd' });
  try {
    const placed = await placeOrderAdmitted(reception, ctx.item.id, { signal: ctx.signal, preferWaitS });
    record.admittedAt = Date.now();
    record.orderId = placed.order.id;
    await download(ctx, record, placed.ticket.url);
  } catch (error) {
    record.error = describe(error);
  }
}

/** A hammering client tries again after any 503 or 429 and after no answer at all; any other refusal ends it. */
function worthAnotherTry(error: unknown): boolean {
  if (!isTesseraClientError(error)) return false;
  return error.status === 503 || error.status === 429 || error.code === 'connection-failed';
}

export async function runHammerClient(ctx: ClientContext, record: ClientRecord, retryMs: number): Promise<void> {
  const fetch = counting(record, loopbackFetch(record.localAddress, ctx.agent, recorder(record)));
  const reception = new ReceptionClient({ baseUrl: ctx.receptionUrl, fetch, userAgent: 'tessera-bench-crowd' });
  try {
    for (;;) {
      try {
        const placed = await reception.placeOrder(ctx.item.id, { signal: ctx.signal, timeoutMs: ORDER_TIMEOUT_MS });
        record.admittedAt = Date.now();
        record.orderId = placed.order.id;
        await download(ctx, record, placed.ticket.url);
        return;
      } catch (error) {
        if (!worthAnotherTry(error)) throw error;
      }
      await sleep(retryMs, undefined, { signal: ctx.signal });
    }
  } catch (error) {
    record.error = describe(error);
  }
}

function describe(error: unknown): string {
  if (isTesseraClientError(error)) return `${error.code}: ${error.detail ?? error.title}`;
  return error instanceof Error ? error.message : String(error);
}
