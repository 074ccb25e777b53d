import type { ContentServerProcess, BenchItem } from './content-server-process.js';
import type { ManagedProcess } from './managed-process.js';
import { LOOPBACK, sleep } from './net.js';
import type { RunningNginx } from './nginx.js';
import type { ReceptionStub } from './reception-stub.js';
import { secureLinkPath } from './secure-link.js';

// A target is one server set-up under test, seen the same way by every benchmark: where to
// send requests, which processes to bill and pin, and how to get fresh request paths (a fresh
// ticket, or a fresh secure_link, per request).

export interface Target {
  readonly name: string;
  readonly baseUrl: string;
  /** Root pids of the server side: billed for CPU and pinned with their descendants. */
  readonly pids: readonly number[];
  /** Most small paths one run may use (the content server's slot capacity, for notices). */
  readonly maxSmallPaths: number;
  /**
   * Requests/s to plan fresh paths for at least, whatever a warm-up measured: running out
   * mid-run would reuse tickets, and a warm-up under noise can read low.
   */
  readonly planRatePerSecond: number;
  /** `count` fresh request paths for the small item (tickets minted, notices sent). */
  smallPaths(count: number, runSeconds: number): Promise<string[]>;
  /** `count` fresh absolute URLs for the large file. */
  largeUrls(count: number): Promise<string[]>;
  /** After a run: waits for the server's after-work (completions) to finish. */
  settle(): Promise<void>;
}

export interface BenchFiles {
  readonly dir: string;
  readonly small: BenchItem;
  readonly large: BenchItem;
}

let linkCounter = 0;

/** Most notices sent before one small-item run. */
export const MAX_NOTICES_PER_RUN = 50_000;

/** How long each batch of notices took to be accepted, for the record. */
export const noticeLog: { readonly count: number; readonly seconds: number }[] = [];

export function nginxSecureLinkTarget(name: string, nginx: RunningNginx, secret: string, files: BenchFiles): Target {
  const baseUrl = `http://${LOOPBACK}:${nginx.port}`;
  // A distinct expiry per link, so every request carries a link nginx has not seen before,
  // as every ticket request does.
  const links = (uri: string, count: number): string[] => {
    const base = Math.floor(Date.now() / 1000) + 3600;
    return Array.from({ length: count }, () => secureLinkPath(uri, base + linkCounter++, LOOPBACK, secret));
  };
  return {
    name,
    baseUrl,
    pids: [nginx.process.pid],
    maxSmallPaths: Number.POSITIVE_INFINITY,
    planRatePerSecond: 80_000,
    smallPaths: (count) => Promise.resolve(links(`/s/${files.small.fileName}`, count)),
    largeUrls: (count) => Promise.resolve(links(`/s/${files.large.fileName}`, count).map((p) => baseUrl + p)),
    settle: () => Promise.resolve(),
  };
}

export function plainNodeTarget(name: string, server: ManagedProcess, port: number, files: BenchFiles): Target {
  const baseUrl = `http://${LOOPBACK}:${port}`;
  // The query is ignored by the server; it keeps the client's work equal to the other rows.
  const paths = (file: string, count: number): string[] => Array.from({ length: count }, () => `/${file}?n=${linkCounter++}`);
  return {
    name,
    baseUrl,
    pids: [server.pid],
    maxSmallPaths: Number.POSITIVE_INFINITY,
    planRatePerSecond: 80_000,
    smallPaths: (count) => Promise.resolve(paths(files.small.fileName, count)),
    largeUrls: (count) => Promise.resolve(paths(files.large.fileName, count).map((p) => baseUrl + p)),
    settle: () => Promise.resolve(),
  };
}

export interface ContentTargetOptions {
  readonly name: string;
  readonly server: ContentServerProcess;
  readonly stub: ReceptionStub;
  readonly files: BenchFiles;
  /** nginx in front (accel mode): requests go to it, and it is billed with the server. */
  readonly front?: RunningNginx;
}

export function contentServerTarget(options: ContentTargetOptions): Target {
  const { server, stub, files } = options;
  const baseUrl = options.front ? `http://${LOOPBACK}:${options.front.port}` : server.publicUrl;
  const required = server.options.noticeMode === 'required';
  const fresh = async (item: BenchItem, count: number, holdS: number): Promise<string[]> => {
    // Tickets outlive their holds by a little, so unused ones leave the server's tables soon.
    const tickets = await server.mint(item, count, holdS + 30, holdS);
    if (required) {
      const started = Date.now();
      const accepted = await server.sendNotices(tickets.map((t) => t.notice));
      if (accepted < count) throw new Error(`${server.serverId} accepted only ${accepted} of ${count} notices (slots full?)`);
      noticeLog.push({ count, seconds: (Date.now() - started) / 1000 });
    }
    return tickets.map((t) => t.path);
  };
  return {
    name: options.name,
    baseUrl,
    pids: options.front ? [server.process.pid, options.front.process.pid] : [server.process.pid],
    // Each notice holds a slot until used or until its hold lapses, and taking one costs more
    // the more are held (see docs/benchmarks.md): runs with notices are kept short instead.
    maxSmallPaths: required ? Math.min(MAX_NOTICES_PER_RUN, server.options.capacity) : Number.POSITIVE_INFINITY,
    // With notices every path costs a notice: plan on what was measured, no more.
    planRatePerSecond: required ? 0 : 20_000,
    // Holds last past the notice sending and the run, and lapse soon after.
    smallPaths: (count, runSeconds) => fresh(files.small, count, Math.ceil(count / 2000) + runSeconds + 15),
    largeUrls: async (count) => (await fresh(files.large, count, 300)).map((p) => baseUrl + p),
    settle: async () => {
      // The content server sends one completion per consumed ticket, asynchronously: wait until
      // they stop arriving so the next run does not pay for this one's.
      let last = -1;
      const until = Date.now() + 60_000;
      while (stub.completions !== last && Date.now() < until) {
        last = stub.completions;
        await sleep(400);
      }
    },
  };
}
