import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { DownloadOutcome, Placement } from './scale-analysis.js';

// The scale-out load generator, a process of its own so its CPU is counted apart from the
// servers' and the harness's: `workers` clients in closed loops, each placing an order
// (POST /orders through the public entry, on a keep-alive connection as a browser would), then
// downloading the ticket URL the way curl does (a new connection, a plain GET, the whole body),
// checking the length and SHA-256, and placing the next order. Fewer workers than slots, so the
// load is meant to stay below capacity; a busy answer (the reception's view of the slots lags
// their release by up to a report) is followed as the waiting-line contract says, and counted.
// Runs until `seconds` have passed, then writes every placement to `resultFile`.
//
//   node load-process.js CONFIG.json      (stdout: "started <epoch ms>", then "done")

export interface LoadItem {
  readonly id: string;
  readonly size: number;
  readonly sha256: string;
  /** Relative share of the orders. */
  readonly weight: number;
}

export interface LoadConfig {
  readonly receptionUrl: string;
  readonly items: readonly LoadItem[];
  readonly workers: number;
  readonly seconds: number;
  readonly resultFile: string;
  readonly seed: number;
}

export interface LoadResult {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly placements: readonly Placement[];
  readonly cpuSeconds: number;
}

const REQUEST_TIMEOUT_MS = 45_000;

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

function send(url: URL, options: { method: string; agent: Agent | false; body?: string; headers?: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { accept: 'application/json', ...options.headers };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    const req = request(url, { method: options.method, agent: options.agent, headers, timeout: REQUEST_TIMEOUT_MS });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.end(options.body);
  });
}

/** A seeded generator (mulberry32), so both systems get the same sequence of items. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function download(url: string, item: LoadItem): Promise<DownloadOutcome> {
  const t0 = performance.now();
  try {
    // agent: false — a connection of its own, closed afterwards, as one curl run does.
    const answer = await send(new URL(url), { method: 'GET', agent: false });
    const intact = answer.status === 200 && answer.body.length === item.size && createHash('sha256').update(answer.body).digest('hex') === item.sha256;
    return { status: answer.status, bytes: answer.body.length, ms: performance.now() - t0, intact };
  } catch {
    return { status: 0, bytes: 0, ms: performance.now() - t0, intact: false };
  }
}

interface Parsed {
  readonly order?: { readonly id?: string };
  readonly ticket?: { readonly url?: string };
  readonly code?: string;
  readonly orderId?: string;
  readonly queueToken?: string;
}

function parseAnswer(answer: Answer): Parsed {
  try {
    return JSON.parse(answer.body.toString('utf8')) as Parsed;
  } catch {
    return {};
  }
}

/** Comes back with the queue token (`Prefer: wait`) until admitted, as the client library does. */
async function waitInLine(ordersUrl: URL, agent: Agent, contentId: string, first: Parsed): Promise<{ answer: Answer; json: Parsed } | { error: string }> {
  let json = first;
  for (let checks = 0; checks < 20; checks++) {
    if (typeof json.queueToken !== 'string') return { error: json.code ?? 'busy without a queue token' };
    let answer: Answer;
    try {
      answer = await send(ordersUrl, { method: 'POST', agent, body: JSON.stringify({ contentId, queueToken: json.queueToken }), headers: { prefer: 'wait=20' } });
    } catch (error) {
      return { error: (error as Error).message };
    }
    json = parseAnswer(answer);
    if (answer.status !== 503) return { answer, json };
  }
  return { error: 'still in line after 20 checks' };
}

async function worker(config: LoadConfig, agent: Agent, pick: () => LoadItem, endAt: number, out: Placement[]): Promise<void> {
  const ordersUrl = new URL('/orders', config.receptionUrl);
  while (Date.now() < endAt) {
    const item = pick();
    const t0 = performance.now();
    let answer: Answer;
    try {
      answer = await send(ordersUrl, { method: 'POST', agent, body: JSON.stringify({ contentId: item.id }) });
    } catch (error) {
      out.push({ status: 0, latencyMs: performance.now() - t0, orderId: undefined, download: undefined, error: (error as Error).message, waited: false });
      continue;
    }
    let json = parseAnswer(answer);
    let waited = false;
    if (answer.status === 503 && json.code === 'all-servers-busy') {
      // A place in line: a client that walked away would hold up everyone behind it until its
      // place lapsed (arrival order), so this one comes back until admitted, like every real client.
      waited = true;
      const admitted = await waitInLine(ordersUrl, agent, item.id, json);
      if ('error' in admitted) {
        out.push({ status: 503, latencyMs: performance.now() - t0, orderId: json.orderId, download: undefined, error: admitted.error, waited });
        continue;
      }
      answer = admitted.answer;
      json = admitted.json;
    }
    const latencyMs = performance.now() - t0;
    if (answer.status === 201 && typeof json.ticket?.url === 'string') {
      out.push({ status: 201, latencyMs, orderId: json.order?.id, download: await download(json.ticket.url, item), error: undefined, waited });
    } else {
      out.push({ status: answer.status === 201 ? -201 : answer.status, latencyMs, orderId: json.order?.id ?? json.orderId, download: undefined, error: json.code ?? 'unparsable answer', waited });
    }
  }
}

async function main(configFile: string): Promise<void> {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as LoadConfig;
  const total = config.items.reduce((s, i) => s + i.weight, 0);
  const next = random(config.seed);
  const pick = (): LoadItem => {
    let r = next() * total;
    for (const item of config.items) {
      r -= item.weight;
      if (r < 0) return item;
    }
    return config.items[config.items.length - 1] as LoadItem;
  };
  const agent = new Agent({ keepAlive: true, maxSockets: config.workers });
  const placements: Placement[] = [];
  const cpuBefore = process.cpuUsage();
  const startedAt = Date.now();
  process.stdout.write(`started ${startedAt}\n`);
  const endAt = startedAt + config.seconds * 1000;
  await Promise.all(Array.from({ length: config.workers }, () => worker(config, agent, pick, endAt, placements)));
  const endedAt = Date.now();
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  const result: LoadResult = { startedAt, endedAt, placements, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  writeFileSync(config.resultFile, JSON.stringify(result));
  process.stdout.write('done\n');
}

const configFile = process.argv[2];
if (configFile === undefined) {
  process.stderr.write('usage: node load-process.js CONFIG.json\n');
  process.exitCode = 2;
} else {
  main(configFile).catch((error: unknown) => {
    process.stderr.write(`load-process: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  });
}
