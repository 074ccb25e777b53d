import { decodeContent, decodeContentList, decodeOrderPlaced, decodeOrderStatus } from './reception-decoders.js';
import type { Content, OrderPlaced, OrderStatus } from './reception-types.js';
import { errorFromResponse, TesseraClientError } from './tessera-client-error.js';
import { defaultUserAgent } from './user-agent.js';

// The reception's public API as typed calls. Small JSON exchanges go through fetch (which the
// caller may replace, e.g. to add a proxy or tracing); bulk bytes go through downloadTicket.

export type FetchFunction = typeof globalThis.fetch;

export interface ReceptionClientOptions {
  readonly baseUrl: string;
  readonly userAgent?: string;
  readonly fetch?: FetchFunction;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Give up (connection-failed) when no whole answer came within this many ms. Default: none. */
  readonly timeoutMs?: number;
}

export interface OrderOptions extends CallOptions {
  /** Come back for a place in line: the token of the latest 503 all-servers-busy (R9). */
  readonly queueToken?: string;
  /**
   * Ask the reception to hold the request up to this many seconds until the order is admitted
   * (RFC 7240 `Prefer: wait=N`); set `timeoutMs` well above it.
   */
  readonly preferWaitS?: number;
}

export interface TicketReplacement {
  /** The ticket URL held now (a bearer credential: it is sent only to the reception). */
  readonly ticketUrl: string;
  /** The content server that could not be reached. */
  readonly failedServerId?: string;
  /** Bytes of the item already downloaded. */
  readonly heldBytes?: number;
}

export class ReceptionClient {
  readonly baseUrl: string;
  readonly #userAgent: string;
  readonly #fetch: FetchFunction;

  constructor(options: ReceptionClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new TypeError(`reception base URL is not an absolute URL: ${options.baseUrl}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`reception base URL must be http(s): ${options.baseUrl}`);
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.#userAgent = options.userAgent ?? defaultUserAgent();
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  async listContents(options: CallOptions = {}): Promise<Content[]> {
    return decodeContentList(await this.#call('GET', '/contents', undefined, options));
  }

  async getContent(id: string, options: CallOptions = {}): Promise<Content> {
    return decodeContent(await this.#call('GET', `/contents/${encodeURIComponent(id)}`, undefined, options));
  }

  /**
   * Orders a content item. The answer carries a permission ticket: treat `ticket.url` as a
   * secret. A 503 all-servers-busy is thrown as is; placeOrderAdmitted waits in line instead.
   */
  async placeOrder(contentId: string, options: OrderOptions = {}): Promise<OrderPlaced> {
    const { queueToken, preferWaitS } = options;
    const body = queueToken === undefined ? { contentId } : { contentId, queueToken };
    const headers: Record<string, string> = preferWaitS === undefined ? {} : { prefer: `wait=${Math.max(0, Math.floor(preferWaitS))}` };
    return decodeOrderPlaced(await this.#call('POST', '/orders', body, options, headers));
  }

  /**
   * Asks for a new ticket for a ticketed order whose content server could not be reached: send
   * the ticket held now (its URL), the server that failed, and how many bytes are already here.
   * The answer has the new ticket (another server when one can take it); the old one is
   * revoked. Asking again with the ticket just replaced gives the same new ticket.
   */
  async replaceTicket(orderId: string, request: TicketReplacement, options: CallOptions = {}): Promise<OrderPlaced> {
    const body: Record<string, unknown> = { ticket: request.ticketUrl };
    if (request.failedServerId !== undefined) body['failedServerId'] = request.failedServerId;
    if (request.heldBytes !== undefined) body['heldBytes'] = request.heldBytes;
    return decodeOrderPlaced(await this.#call('POST', `/orders/${encodeURIComponent(orderId)}/ticket`, body, options));
  }

  async getOrder(id: string, options: CallOptions = {}): Promise<OrderStatus> {
    return decodeOrderStatus(await this.#call('GET', `/orders/${encodeURIComponent(id)}`, undefined, options));
  }

  async #call(method: 'GET' | 'POST', path: string, body: unknown, options: CallOptions, extraHeaders: Record<string, string> = {}): Promise<unknown> {
    const headers: Record<string, string> = { ...extraHeaders, accept: 'application/json, application/problem+json', 'user-agent': this.#userAgent };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init: RequestInit = { method, headers, redirect: 'manual' };
    if (body !== undefined) init.body = JSON.stringify(body);
    const timeout = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
    const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    if (signals.length > 0) init.signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals);

    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.baseUrl + path, init);
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (timeout?.aborted) {
        throw TesseraClientError.local('connection-failed', `${method} ${path}: the reception did not answer within ${formatSeconds(options.timeoutMs ?? 0)}`, { cause: error });
      }
      throw TesseraClientError.local('connection-failed', `cannot reach the reception at ${this.baseUrl}: ${describeNetworkError(error)}`, { cause: error });
    }
    if (!response.ok) {
      throw errorFromResponse(
        response.status,
        response.statusText,
        { contentType: response.headers.get('content-type') ?? undefined, retryAfter: response.headers.get('retry-after') ?? undefined },
        text,
        Date.now(),
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw TesseraClientError.local('bad-response', `${method} ${path}: the body is not JSON`);
    }
  }
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** fetch wraps the useful reason (ECONNREFUSED, ...) in `cause`. */
export function describeNetworkError(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ?? cause.message;
  }
  return String(cause);
}
