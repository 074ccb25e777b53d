import { setTimeout as sleep } from 'node:timers/promises';
import { completeFromPart, downloadTicket, type DownloadEvent, type DownloadResult } from './download-ticket.js';
import { placeOrderAdmitted, type AdmissionEvent } from './place-order-admitted.js';
import type { DownloadProgress } from './progress-meter.js';
import type { ReceptionClient } from './reception-client.js';
import type { Content, OrderPlaced } from './reception-types.js';
import { isTesseraClientError, type ResumeState } from './tessera-client-error.js';

// Order → download → verify, the whole purchase of one content item. A part file left by an
// earlier run is continued. When a resume is refused because the ticket's window closed, a new
// order brings a fresh ticket and the download continues from the same part file. A ticket
// that is used up (ticket-consumed) is never answered with a new order — that would buy the
// item twice — unless the part already holds the whole file, which then only needs checking.
//
// When the content server cannot be reached at all (connection refused or reset after the
// download's own resume attempts: the server died), the reception is asked for a replacement
// ticket for the same order (POST /orders/{id}/ticket), on another server, and the download
// continues from the part file there. Bounded by maxServerSwitches (the reception also bounds
// replacements per order).

export type FetchEvent =
  | DownloadEvent
  /** Waiting in line for admission (see placeOrderAdmitted). */
  | AdmissionEvent
  /** An order was placed; the ticket itself is deliberately not part of the event. */
  | { readonly type: 'ordered'; readonly orderId: string; readonly serverId: string; readonly expiresAt: string; readonly reorder: boolean }
  /** The ticket expired mid-download; a new order follows. */
  | { readonly type: 'reordering'; readonly atByte: number; readonly reason: string }
  /** The part file already held the whole, verified file: nothing was ordered. */
  | { readonly type: 'completed-from-part' }
  /** The content server could not be reached; a replacement ticket moves the download to `to`. */
  | { readonly type: 'switching-server'; readonly from: string; readonly to: string; readonly atByte: number; readonly reason: string };

export interface FetchContentOptions {
  readonly outputPath: string;
  /** The catalogue entry, when the caller already has it (saves a request). */
  readonly content?: Content;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly onEvent?: (event: FetchEvent) => void;
  readonly signal?: AbortSignal;
  /** New orders allowed after an expired ticket (default 2). */
  readonly maxReorders?: number;
  /** Replacement tickets asked for after a content server could not be reached (default 3). */
  readonly maxServerSwitches?: number;
  /** When every content server is busy: 'wait' in line until admitted (default) or 'fail' at once. */
  readonly whenBusy?: 'wait' | 'fail';
  readonly maxResumes?: number;
  readonly backoffMs?: number;
  readonly idleTimeoutMs?: number;
  readonly userAgent?: string;
}

export interface FetchContentResult extends DownloadResult {
  readonly content: Content;
  /** The order that delivered the last bytes; undefined when the part file was already whole. */
  readonly orderId: string | undefined;
  readonly serverId: string | undefined;
  /** Orders placed by this call. */
  readonly orders: number;
  /** Replacement tickets obtained by this call (content servers that could not be reached). */
  readonly serverSwitches: number;
}

export async function fetchContent(reception: ReceptionClient, contentId: string, options: FetchContentOptions): Promise<FetchContentResult> {
  const { outputPath, signal, onEvent } = options;
  const partFile = `${outputPath}.part`;
  const call = signal ? { signal } : {};

  // A whole part from an earlier run needs no ticket at all.
  const known = options.content ?? (await reception.getContent(contentId, call));
  try {
    const done = await completeFromPart({ file: outputPath, partFile, expectedSize: known.size, expectedSha256: known.sha256 });
    if (done) {
      onEvent?.({ type: 'completed-from-part' });
      return { ...done, content: known, orderId: undefined, serverId: undefined, orders: 0, serverSwitches: 0 };
    }
  } catch (error) {
    // A corrupt part was deleted by completeFromPart; start from nothing.
    if (!isTesseraClientError(error, 'sha256-mismatch')) throw error;
  }

  const maxReorders = options.maxReorders ?? 2;
  const maxSwitches = options.maxServerSwitches ?? 3;
  let switches = 0;
  let resumeFrom: ResumeState | 'existing-part' = 'existing-part';
  for (let orders = 1; ; orders += 1) {
    let placed: OrderPlaced = await placeOrderAdmitted(reception, contentId, { signal, whenBusy: options.whenBusy, onEvent });
    onEvent?.({ type: 'ordered', orderId: placed.order.id, serverId: placed.ticket.serverId, expiresAt: placed.ticket.expiresAt, reorder: orders > 1 });
    for (;;) {
      try {
        const result = await downloadTicket(placed.ticket.url, {
          file: outputPath,
          partFile,
          expectedSize: placed.content.size,
          expectedSha256: placed.content.sha256,
          resumeFrom,
          onProgress: options.onProgress,
          onEvent,
          signal,
          maxResumes: options.maxResumes,
          backoffMs: options.backoffMs,
          idleTimeoutMs: options.idleTimeoutMs,
          userAgent: options.userAgent,
        });
        return { ...result, content: placed.content, orderId: placed.order.id, serverId: placed.ticket.serverId, orders, serverSwitches: switches };
      } catch (error) {
        if (!isTesseraClientError(error)) throw error;
        resumeFrom = error.resume ?? 'existing-part';
        if (error.code === 'connection-failed' && switches < maxSwitches) {
          const heldBytes = error.resume?.bytes ?? 0;
          const replaced = await replacementTicket(reception, placed, heldBytes, signal);
          if (replaced !== 'place-a-new-order') {
            switches += 1;
            onEvent?.({ type: 'switching-server', from: placed.ticket.serverId, to: replaced.ticket.serverId, atByte: heldBytes, reason: error.detail ?? error.title });
            placed = replaced;
            continue;
          }
        } else if (!isTesseraClientError(error, 'ticket-expired')) {
          throw error;
        }
        if (orders > maxReorders) throw error;
        onEvent?.({ type: 'reordering', atByte: error.resume?.bytes ?? 0, reason: error.detail ?? error.title });
        break;
      }
    }
  }
}

/** Refusals of a replacement that are worth waiting for, a few times. */
const REPLACEMENT_RETRIES = 5;

/**
 * A replacement ticket for `placed`, whose content server could not be reached. 'place-a-new-order'
 * when the order's ticket can no longer be replaced because its window closed (like an expired
 * ticket mid-download). Any other refusal is thrown.
 */
async function replacementTicket(
  reception: ReceptionClient,
  placed: OrderPlaced,
  heldBytes: number,
  signal: AbortSignal | undefined,
): Promise<OrderPlaced | 'place-a-new-order'> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await reception.replaceTicket(
        placed.order.id,
        { ticketUrl: placed.ticket.url, failedServerId: placed.ticket.serverId, heldBytes },
        signal ? { signal, timeoutMs: 30_000 } : { timeoutMs: 30_000 },
      );
    } catch (error) {
      if (isTesseraClientError(error, 'ticket-expired') || isTesseraClientError(error, 'order-expired')) return 'place-a-new-order';
      const transient = isTesseraClientError(error) && (error.status === 503 || error.code === 'connection-failed');
      if (!transient || attempt >= REPLACEMENT_RETRIES) throw error;
      const delayMs = Math.min(30_000, (error.retryAfterS ?? 1) * 1000);
      await sleep(delayMs, undefined, signal ? { signal } : {}).catch((e: unknown) => {
        throw signal?.aborted ? signal.reason : e;
      });
    }
  }
}
