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

  /** Orders a content item. The answer carries a permission ticket: treat `ticket.url` as a secret. */
  async placeOrder(contentId: string, options: CallOptions = {}): Promise<OrderPlaced> {
    return decodeOrderPlaced(await this.#call('POST', '/orders', { contentId }, options));
  }

  async getOrder(id: string, options: CallOptions = {}): Promise<OrderStatus> {
    return decodeOrderStatus(await this.#call('GET', `/orders/${encodeURIComponent(id)}`, undefined, options));
  }

  async #call(method: 'GET' | 'POST', path: string, body: unknown, options: CallOptions): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', 'user-agent': this.#userAgent };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init: RequestInit = { method, headers, redirect: 'manual' };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (options.signal) init.signal = options.signal;

    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.baseUrl + path, init);
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
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

/** fetch wraps the useful reason (ECONNREFUSED, ...) in `cause`. */
export function describeNetworkError(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ?? cause.message;
  }
  return String(cause);
}
