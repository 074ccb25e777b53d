import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatusSnapshot } from '../../core/control/messages.js';
import type { Logger } from '../../observability/logger.js';
import { statusEvent } from './status-page.js';

// Server-Sent Events for the status page: every open page gets the servers' status once a
// second (report ages tick even when nothing else changes) and at once after a drain or an
// undrain. One timer serves every page and runs only while a page is open; the number of open
// streams is capped, since each holds a connection.

export interface StatusStreamOptions {
  readonly intervalMs: number;
  readonly maxSubscribers: number;
}

export class StatusStream {
  readonly #snapshot: () => StatusSnapshot;
  readonly #logger: Logger;
  readonly #options: StatusStreamOptions;
  readonly #subscribers = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | undefined;

  constructor(snapshot: () => StatusSnapshot, logger: Logger, options: StatusStreamOptions = { intervalMs: 1000, maxSubscribers: 64 }) {
    this.#snapshot = snapshot;
    this.#logger = logger;
    this.#options = options;
  }

  get hasRoom(): boolean {
    return this.#subscribers.size < this.#options.maxSubscribers;
  }

  subscribe(request: IncomingMessage, response: ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // A proxy in front must pass events on as they come.
      'x-accel-buffering': 'no',
    });
    response.write('retry: 2000\n\n');
    this.#subscribers.add(response);
    const leave = (): void => {
      this.#subscribers.delete(response);
      if (this.#subscribers.size === 0) this.#stopTimer();
    };
    request.once('close', leave);
    response.once('error', leave);
    this.#send(response, this.#event());
    this.#timer ??= setInterval(() => this.push(), this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Sends the current status to every open page now. */
  push(): void {
    if (this.#subscribers.size === 0) return;
    const event = this.#event();
    for (const response of this.#subscribers) this.#send(response, event);
  }

  close(): void {
    this.#stopTimer();
    for (const response of this.#subscribers) response.end();
    this.#subscribers.clear();
  }

  #event(): string {
    return `event: status\ndata: ${JSON.stringify(statusEvent(this.#snapshot()))}\n\n`;
  }

  #send(response: ServerResponse, event: string): void {
    if (response.destroyed || response.writableEnded) return;
    // A page that stops reading is dropped rather than buffered without bound.
    if (response.writableLength > 256 * 1024) {
      this.#logger.debug('dropping a status page that does not read its events');
      response.destroy();
      this.#subscribers.delete(response);
      return;
    }
    response.write(event);
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
