import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { maxMinShare } from '../sim/max-min-share.js';

// The network the live harness puts in front of each content server. On loopback every server
// has all the bandwidth it wants, so servers of different sizes would differ only in slots;
// what makes a small server slow when it is full is its uplink. The shaper plays that uplink:
// a TCP relay per content server whose sending side (server → client) is limited to
// `uplinkBps` in all, shared max-min fairly among its connections, each also limited to its
// client's downlink. The client names its downlink in a request header (`x-downlink-bps`),
// which the content server ignores.
//
// Back-pressure: the relay reads from the content server only while it holds less than
// HIGH_WATER bytes for that connection, so a transfer the uplink holds back also holds back the
// content server's writes (beyond the kernel's socket buffers, which a real uplink has too).

export const DOWNLINK_HEADER = 'x-downlink-bps';

const HIGH_WATER = 16 * 1024;
const TICK_MS = 10;
/** Most a bucket (the uplink's or a downlink's) may save up while idle: no bursts after a pause. */
const BURST_S = 0.03;

export interface ShapedLink {
  /** Where clients connect. */
  readonly listenPort: number;
  /** The content server's public port. */
  readonly targetPort: number;
  readonly uplinkBps: number;
}

interface Flow {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly pending: Buffer[];
  pendingBytes: number;
  downlinkBps: number;
  allowance: number;
  upstreamEnded: boolean;
  closed: boolean;
}

class Link {
  readonly spec: ShapedLink;
  readonly flows = new Set<Flow>();
  allowance = 0;
  sentBytes = 0;

  constructor(spec: ShapedLink) {
    this.spec = spec;
  }
}

export class UplinkShaper {
  readonly #links: Link[];
  readonly #servers: Server[] = [];
  #timer: NodeJS.Timeout | undefined;
  #last = 0;

  constructor(links: readonly ShapedLink[]) {
    this.#links = links.map((l) => new Link(l));
  }

  async start(): Promise<void> {
    for (const link of this.#links) {
      const server = createServer((client) => this.#accept(link, client));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(link.spec.listenPort, '127.0.0.1', () => resolve());
      });
      this.#servers.push(server);
    }
    this.#last = performance.now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    for (const link of this.#links) for (const f of link.flows) this.#close(link, f);
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** Bytes each link has sent since start (for a check that the uplink held). */
  sentBytes(): number[] {
    return this.#links.map((l) => l.sentBytes);
  }

  #accept(link: Link, client: Socket): void {
    client.setNoDelay(true);
    const upstream = createConnection({ host: '127.0.0.1', port: link.spec.targetPort });
    upstream.setNoDelay(true);
    const flow: Flow = { client, upstream, pending: [], pendingBytes: 0, downlinkBps: Infinity, allowance: 0, upstreamEnded: false, closed: false };
    link.flows.add(flow);
    let head = '';
    let headerSeen = false;
    client.on('data', (chunk: Buffer) => {
      if (!headerSeen) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end >= 0 || head.length > 16_384) {
          headerSeen = true;
          const match = new RegExp(`^${DOWNLINK_HEADER}:\\s*(\\d+)\\s*$`, 'im').exec(head.slice(0, end >= 0 ? end : undefined));
          if (match?.[1]) flow.downlinkBps = Number(match[1]);
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      flow.pending.push(chunk);
      flow.pendingBytes += chunk.length;
      if (flow.pendingBytes >= HIGH_WATER) upstream.pause();
    });
    upstream.on('end', () => {
      flow.upstreamEnded = true;
      if (flow.pendingBytes === 0) this.#close(link, flow);
    });
    const fail = (): void => this.#close(link, flow, true);
    upstream.on('error', fail);
    client.on('error', fail);
    // A client that has its whole response closes at once, often before the content server's
    // FIN reaches us: close our side gently (FIN, not RST), or the content server would take
    // the transfer as cut off and keep its slot idle for TESSERA_IDLE_RELEASE_MS.
    client.on('close', () => this.#close(link, flow));
    client.on('end', () => upstream.end());
  }

  #close(link: Link, flow: Flow, abort = false): void {
    if (flow.closed) return;
    flow.closed = true;
    link.flows.delete(flow);
    if (abort) {
      flow.client.destroy();
      flow.upstream.destroy();
    } else {
      flow.client.end();
      flow.upstream.end();
      // Read what may still come (its FIN), so closing never leaves unread data behind (an RST).
      flow.upstream.resume();
      setTimeout(() => flow.upstream.destroy(), 5000).unref();
    }
  }

  #tick(): void {
    const now = performance.now();
    const dt = Math.min(0.1, (now - this.#last) / 1000);
    this.#last = now;
    for (const link of this.#links) {
      // A late tick (a busy machine) still hands out the time it missed, up to 0.1 s.
      const keep = Math.max(BURST_S, dt);
      link.allowance = Math.min(link.allowance + link.spec.uplinkBps * dt, link.spec.uplinkBps * keep);
      const flows = [...link.flows].filter((f) => f.pendingBytes > 0);
      for (const f of link.flows) {
        f.allowance = Number.isFinite(f.downlinkBps) ? Math.min(f.allowance + f.downlinkBps * dt, f.downlinkBps * keep) : Infinity;
      }
      if (flows.length === 0) continue;
      const caps = flows.map((f) => Math.min(f.pendingBytes, f.allowance));
      const shares = maxMinShare(caps, link.allowance);
      flows.forEach((f, i) => {
        const n = Math.floor(shares[i] as number);
        if (n <= 0) return;
        const sent = this.#send(f, n);
        link.allowance -= sent;
        link.sentBytes += sent;
        if (Number.isFinite(f.allowance)) f.allowance -= sent;
        if (f.pendingBytes < HIGH_WATER && f.upstream.isPaused()) f.upstream.resume();
        if (f.pendingBytes === 0 && f.upstreamEnded) this.#close(link, f);
      });
    }
  }

  #send(flow: Flow, n: number): number {
    let left = n;
    const parts: Buffer[] = [];
    while (left > 0 && flow.pending.length > 0) {
      const head = flow.pending[0] as Buffer;
      if (head.length <= left) {
        parts.push(head);
        flow.pending.shift();
        left -= head.length;
      } else {
        parts.push(head.subarray(0, left));
        flow.pending[0] = head.subarray(left);
        left = 0;
      }
    }
    const sent = n - left;
    flow.pendingBytes -= sent;
    if (parts.length > 0) flow.client.write(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
    return sent;
  }
}
