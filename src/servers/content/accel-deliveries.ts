import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { Completion } from '../../core/control/messages.js';
import type { Logger } from '../../observability/logger.js';
import type { SlotTable, TicketRecord } from './slot-table.js';

// Accel mode with a delivery log: nginx serves the bytes after the content server checked the
// ticket, and tells it afterwards what it really sent, through its access log written as
// syslog over UDP to this listener (loopback only):
//
//   log_format tessera_delivery 'tessera-delivery $upstream_http_x_tessera_transfer $status $body_bytes_sent "$sent_http_content_range"';
//   access_log syslog:server=127.0.0.1:<TESSERA_ACCEL_LOG_PORT>,tag=tessera,nohostname tessera_delivery;
//
// Each accel answer carries a random transfer ID in `X-Tessera-Transfer` (nginx keeps it from
// the client); the log line names it, with the status, the body bytes nginx flushed and the
// Content-Range it sent, which is exactly the range that counts as delivered, as in node mode.
// A transfer whose line never comes (UDP can drop it) ends when its ticket's window closes.

const LINE = /tessera-delivery (\S+) (\d{3}) (\d+) "([^"]*)"\s*$/;
const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;

interface Pending {
  readonly record: TicketRecord;
}

export interface AccelDeliveriesOptions {
  readonly slots: SlotTable;
  readonly clock: { now(): number };
  readonly logger: Logger;
  readonly ended: (completion: Completion) => void;
  readonly onBytes: (bytes: number) => void;
  readonly onTransferEnd: () => void;
}

export class AccelDeliveries {
  readonly #options: AccelDeliveriesOptions;
  readonly #pending = new Map<string, Pending>();
  #socket: Socket | undefined;

  constructor(options: AccelDeliveriesOptions) {
    this.#options = options;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Binds the UDP listener; resolves to the bound port. */
  listen(port: number, host: string): Promise<number> {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    this.#socket = socket;
    socket.on('message', (message) => this.receive(message.toString('utf8')));
    socket.on('error', (error) => this.#options.logger.error({ err: error }, 'accel delivery log listener failed'));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve(socket.address().port);
      });
    });
  }

  close(): void {
    this.#socket?.close();
    this.#socket = undefined;
  }

  /** A transfer was handed to nginx; returns the ID for X-Tessera-Transfer. */
  begin(record: TicketRecord): string {
    const id = randomBytes(12).toString('base64url');
    this.#pending.set(id, { record });
    return id;
  }

  /** One syslog datagram from nginx. Lines that do not name a pending transfer are ignored. */
  receive(line: string): void {
    const match = LINE.exec(line);
    if (!match) return;
    const [, id = '', statusText = '', bytesText = '', contentRange = ''] = match;
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    const { record } = pending;
    const status = Number(statusText);
    const bytes = Number(bytesText);
    const now = this.#options.clock.now();
    if ((status === 200 || status === 206) && bytes > 0) {
      let start = 0;
      if (status === 206) {
        const range = CONTENT_RANGE.exec(contentRange);
        start = range ? Number(range[1]) : Number.NaN;
      }
      if (Number.isSafeInteger(start) && Number.isSafeInteger(bytes)) {
        this.#options.onBytes(bytes);
        this.#options.slots.recordFlushed(record, bytes);
        const completion = this.#options.slots.recordDelivered(record, start, Math.min(record.size, start + bytes), now);
        if (completion) this.#options.ended(completion);
      }
    }
    this.#end(record, now);
  }

  /** Ends transfers whose log line never came, once their ticket's window has closed. */
  sweep(now: number): void {
    for (const [id, { record }] of this.#pending) {
      if (now >= record.closesAt || record.ended) {
        this.#pending.delete(id);
        this.#end(record, now);
      }
    }
  }

  #end(record: TicketRecord, now: number): void {
    this.#options.onTransferEnd();
    const completion = this.#options.slots.endTransfer(record, now);
    if (completion) this.#options.ended(completion);
  }
}
