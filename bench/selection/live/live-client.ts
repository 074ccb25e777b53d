import { Agent, request } from 'node:http';
import { placeOrderAdmitted } from '../../../src/client/place-order-admitted.js';
import type { ReceptionClient } from '../../../src/client/reception-client.js';
import { TesseraClientError } from '../../../src/client/tessera-client-error.js';
import type { ClientSpec } from '../sim/clients.js';
import { DOWNLINK_HEADER } from './uplink-shaper.js';

// One client of a live run, as a person's would go: order with Tessera's client library (when
// every server is busy it comes back after Retry-After, again and again, R9), then download the
// ticket URL, which goes through the uplink shaper in front of the content server, at the
// client's own downlink.

export interface ClientOutcome {
  readonly spec: ClientSpec;
  /** Seconds from the cell's start: when the client ordered, got its ticket, got its last byte. */
  readonly arriveS: number;
  readonly ticketS: number;
  readonly doneS: number;
  readonly serverId: string;
  /** Busy answers (503 all-servers-busy) and other refusals it was told to come back after. */
  readonly busyAnswers: number;
  /** Times the order failed with a 500 and the client ordered again (see below). */
  readonly restarts: number;
  readonly error?: string;
}

/**
 * A 500 `internal` while waiting in line (seen with several receptions: two admit the same
 * order, the loser answers "order changed state while a ticket was being issued") leaves the
 * client without its ticket. A person would order again; so does the client, up to this many
 * times, the clock still running from its first arrival. The table counts these restarts.
 */
const MAX_RESTARTS = 3;

export async function runClient(
  reception: ReceptionClient,
  contentIdOf: (bytes: number) => string,
  spec: ClientSpec,
  t0: number,
  signal: AbortSignal,
): Promise<ClientOutcome> {
  const now = (): number => (performance.now() - t0) / 1000;
  const arriveS = now();
  let busyAnswers = 0;
  let restarts = 0;
  let ticketS = NaN;
  let serverId = '';
  try {
    const order = async (): Promise<Awaited<ReturnType<typeof placeOrderAdmitted>>> => {
      for (;;) {
        try {
          return await placeOrderAdmitted(reception, contentIdOf(spec.bytes), {
            signal,
            maxRetries: 100,
            onEvent: (e) => {
              if (e.type === 'waiting' || e.type === 'retrying') busyAnswers++;
            },
          });
        } catch (error) {
          if (!(error instanceof TesseraClientError && error.code === 'internal' && restarts < MAX_RESTARTS)) throw error;
          restarts++;
        }
      }
    };
    const placed = await order();
    ticketS = now();
    serverId = placed.ticket.serverId;
    const bytes = await download(placed.ticket.url, spec.downlinkBps, signal);
    if (bytes !== spec.bytes) throw new Error(`got ${bytes} of ${spec.bytes} bytes`);
    return { spec, arriveS, ticketS, doneS: now(), serverId, busyAnswers, restarts };
  } catch (error) {
    return { spec, arriveS, ticketS, doneS: NaN, serverId, busyAnswers, restarts, error: (error as Error).message };
  }
}

/**
 * GET with a keep-alive connection, as browsers and fetch do, closed by the client once it has
 * the last byte. (With `Connection: close` the content server closes first, and when the last
 * bytes are still in the socket buffers of a slow client it can only tell they arrived at its
 * next delivery check, up to TESSERA_DELIVERY_CONFIRM_MS later, holding the slot until then.)
 */
function download(url: string, downlinkBps: number, signal: AbortSignal): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { headers: { [DOWNLINK_HEADER]: String(Math.round(downlinkBps)) }, agent, signal }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`download answered ${res.statusCode}`));
        return;
      }
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        n += chunk.length;
      });
      res.on('end', () => resolve(n));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  }).finally(() => agent.destroy());
}
