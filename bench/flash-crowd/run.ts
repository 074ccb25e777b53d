import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { addContent } from '../../src/cli/admin-client.js';
import { ensureRootSecretFile } from '../../src/config/secret.js';
import { startCluster, type Cluster } from '../../test/support/cluster.js';
import { codeVersion, cpuModel } from '../harness/machine.js';
import { waitForQuiet } from '../harness/measure.js';
import { summarizeCpuProfiles } from '../harness/cpu-profile.js';
import { analyseRun, type OrderRow, type SystemAnalysis, type SystemName, type SystemRun } from './crowd-analysis.js';
import { flashCrowdMarkdown, type ReportSetting } from './crowd-report.js';
import type { CrowdConfig, CrowdItem, CrowdResult, DownloadConnection } from './crowd-types.js';
import { writeCrowdBlock } from './docs-block.js';
import { estimateChartSvg } from './estimate-chart.js';
import { SystemSampler, type Admission } from './system-sampler.js';
import { readTcpCounters, tcpCounterDelta, type TcpCounters } from './tcp-counters.js';

// `npm run bench:crowd`: a flash crowd against a real topology (one reception and three content
// servers, each its own `tessera serve` process, as test/support/cluster.ts starts them), run
// twice with the same crowd — same arrival times, same items:
//
//   line:  the reception as shipped; the clients follow the waiting-line contract with the
//          client library (placeOrderAdmitted: retry_at, queue token, Prefer: wait=20);
//   plain: the same reception with TESSERA_QUEUE_MAX=0 (no line: every busy answer is a plain
//          503), and clients that order again every second until they get a ticket.
//
// Every transfer is paced to TESSERA_TRANSFER_RATE_BPS, so service times are known and vary
// with the item's size. Each client sends from its own loopback address (127.0.x.y), so the
// reception's per-address rate limit keeps its default. The figures: estimate error (ours and
// position ÷ outflow, from the same answers), admissions out of arrival order, slot utilisation
// while anyone waits, time until everyone is served, requests. See docs/benchmarks.md.

const KiB = 1024;
const MiB = 1024 * KiB;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CROWD_PROCESS = join(dirname(fileURLToPath(import.meta.url)), 'crowd-process.js');
const PROFILE_PRELOAD = join(dirname(fileURLToPath(import.meta.url)), 'profile-preload.js');
const DOCS = join(REPO, 'docs/benchmarks.md');
const CHART = join(REPO, 'docs/images/flash-crowd-estimates.svg');

export interface FlashCrowdOptions {
  readonly clients: number;
  readonly arrivalS: number;
  readonly servers: number;
  readonly slotsPerServer: number;
  readonly rateBps: number;
  readonly sizes: readonly number[];
  readonly seed: number;
  readonly systems: readonly SystemName[];
  /** Where the chart goes; undefined: no chart. */
  readonly chartPath: string | undefined;
  readonly sampleMs: number;
  readonly preferWaitS: number;
  readonly retryMs: number;
  /** A system's run is cut off this long after its first arrival. */
  readonly deadlineS: number;
  /** Keep the temp directory (crowd records, analyses). */
  readonly keep: boolean;
  /** Profile the reception's CPU (bench/flash-crowd/profile-preload.ts). */
  readonly profile: boolean;
  readonly downloadConnection: DownloadConnection;
  readonly log: (line: string) => void;
}

export const defaultFlashCrowdOptions: FlashCrowdOptions = {
  clients: 2000,
  arrivalS: 3,
  servers: 3,
  slotsPerServer: 4,
  rateBps: 1 * MiB,
  sizes: [512 * KiB, 768 * KiB, 1 * MiB, 2 * MiB],
  seed: 20_261_121,
  systems: ['line', 'plain'],
  chartPath: CHART,
  sampleMs: 100,
  preferWaitS: 20,
  retryMs: 1000,
  deadlineS: 600,
  keep: false,
  profile: false,
  downloadConnection: 'close',
  log: (line) => process.stdout.write(`${line}\n`),
};

const QUIET_CORES = 0.3;
const QUIET_WAIT_MS = 120_000;
const GOALS = { medianError: 0.1, p90Error: 0.25, utilisation: 0.95 };

/** Processes this run started, so an interrupt can stop them by pid. */
const live = { clusters: new Set<Cluster>(), children: new Set<ChildProcess>() };

function fmtBytes(n: number): string {
  return n >= MiB ? `${+(n / MiB).toFixed(2)} MiB` : `${+(n / KiB).toFixed(1)} KiB`;
}

function runCrowd(configFile: string, resultFile: string, pids: Map<string, number>, killAt: number, log: (line: string) => void): Promise<CrowdResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CROWD_PROCESS, configFile, resultFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.children.add(child);
    if (child.pid !== undefined) pids.set('crowd', child.pid);
    const stderr: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => d.split('\n').filter(Boolean).forEach((l) => log(`  ${l}`)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, killAt - Date.now()));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      live.children.delete(child);
      if (code !== 0) {
        reject(new Error(`the load generator ended with ${signal ?? String(code)}: ${stderr.join('').slice(-2000)}`));
        return;
      }
      try {
        resolvePromise(JSON.parse(readFileSync(resultFile, 'utf8')) as CrowdResult);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

async function waitUntilNoTicketed(db: Database.Database, timeoutMs: number): Promise<void> {
  const count = db.prepare("SELECT COUNT(*) AS n FROM orders WHERE state = 'ticketed'");
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && (count.get() as { n: number }).n > 0) await new Promise((r) => setTimeout(r, 250));
}

async function runSystem(name: SystemName, o: FlashCrowdOptions, files: readonly { path: string; size: number }[], workDir: string): Promise<SystemRun> {
  const env: NodeJS.ProcessEnv =
    name === 'line'
      ? { TESSERA_QUEUE_MAX: String(Math.max(10_000, o.clients * 2)), TESSERA_LOG_LEVEL: 'warn' }
      : { TESSERA_QUEUE_MAX: '0', TESSERA_LOG_LEVEL: 'warn' };
  const profileDir = join(workDir, `profile-${name}`);
  if (o.profile) {
    mkdirSync(profileDir, { recursive: true });
    Object.assign(env, { NODE_OPTIONS: `--import=${PROFILE_PRELOAD}`, TESSERA_BENCH_PROFILE_ROLE: 'reception', TESSERA_BENCH_PROFILE_DIR: profileDir });
  }
  // Other people's builds and tests share this machine: start in a quiet moment if one comes.
  const busyBeforeCores = await waitForQuiet(QUIET_CORES, QUIET_WAIT_MS);
  o.log(`${name}: ${busyBeforeCores.toFixed(2)} cores busy before the start; starting a reception and ${o.servers} content servers × ${o.slotsPerServer} slots`);
  const cluster = await startCluster({
    servers: o.servers,
    capacity: o.slotsPerServer,
    env,
    serverEnv: () => ({ TESSERA_TRANSFER_RATE_BPS: String(o.rateBps) }),
  });
  live.clusters.add(cluster);
  let measured: Omit<SystemRun, 'profile'>;
  try {
    const items: CrowdItem[] = [];
    for (const [i, file] of files.entries()) {
      const added = await addContent(cluster.admin, file.path, `Crowd item ${i + 1}`);
      const body = added.json as { content?: { id: string; size: number }; replicas?: string[] };
      if (added.status !== 201 || !body.content) throw new Error(`adding ${file.path} failed: ${JSON.stringify(added.json)}`);
      if ((body.replicas ?? []).length !== o.servers) throw new Error(`item ${i + 1} reached ${(body.replicas ?? []).join(', ')} only`);
      items.push({ id: body.content.id, size: body.content.size });
    }
    const databaseFile = join(cluster.dataDir, 'tessera.db');
    const pids = new Map<string, number>();
    for (const [processName, child] of cluster.processes) if (child.pid !== undefined) pids.set(processName, child.pid);
    const sampler = new SystemSampler({
      rootSecret: ensureRootSecretFile(join(cluster.dataDir, 'secret.key')),
      servers: cluster.topology.contentServers.map((s) => ({ serverId: s.id, controlUrl: `http://${cluster.topology.host}:${s.controlPort}` })),
      databaseFile,
      pids,
    });
    // Let the first load reports with the rate limit reach the reception before the crowd comes.
    await new Promise((r) => setTimeout(r, 1500));
    const startAt = Date.now() + 1500;
    const config: CrowdConfig = {
      mode: name === 'line' ? 'line' : 'hammer',
      receptionUrl: cluster.receptionUrl,
      items,
      clients: o.clients,
      arrivalWindowMs: o.arrivalS * 1000,
      startAt,
      seed: o.seed,
      retryMs: o.retryMs,
      preferWaitS: o.preferWaitS,
      deadlineAt: startAt + o.deadlineS * 1000,
      downloadConnection: o.downloadConnection,
    };
    const configFile = join(workDir, `${name}-config.json`);
    const resultFile = join(workDir, `${name}-crowd.json`);
    writeFileSync(configFile, JSON.stringify(config));
    sampler.start(o.sampleMs);
    let crowd: CrowdResult;
    const tcpBefore = readTcpCounters();
    let tcpAfter: TcpCounters | undefined;
    try {
      crowd = await runCrowd(configFile, resultFile, pids, config.deadlineAt + 60_000, o.log);
      tcpAfter = readTcpCounters();
      const db = new Database(databaseFile, { readonly: true, fileMustExist: true });
      try {
        await waitUntilNoTicketed(db, 20_000);
      } finally {
        db.close();
      }
    } finally {
      await sampler.stop();
    }
    const db = new Database(databaseFile, { readonly: true, fileMustExist: true });
    let orders: Map<string, OrderRow>;
    const orderCounts: Record<string, number> = {};
    try {
      const rows = db.prepare("SELECT id, state, reason, queue_seq FROM orders WHERE state != 'rejected'").all() as { id: string; state: string; reason: string | null; queue_seq: number | null }[];
      orders = new Map(rows.map((r) => [r.id, { id: r.id, state: r.state, reason: r.reason, queueSeq: r.queue_seq }]));
      for (const row of db.prepare('SELECT state, reason, COUNT(*) AS n FROM orders GROUP BY state, reason').all() as { state: string; reason: string | null; n: number }[]) {
        orderCounts[row.reason ? `${row.state} (${row.reason})` : row.state] = row.n;
      }
    } finally {
      db.close();
    }
    measured = {
      name,
      crowd,
      admissions: sampler.admissions,
      orders,
      orderCounts,
      slots: sampler.slots,
      cpu: sampler.cpu,
      samplerSkipped: sampler.skipped,
      transferRateBps: o.rateBps,
      capacity: o.servers * o.slotsPerServer,
      busyBeforeCores,
      tcp: tcpCounterDelta(tcpBefore, tcpAfter),
    };
  } finally {
    live.clusters.delete(cluster);
    await cluster.stop();
  }
  // The reception writes its profile as it stops.
  return { ...measured, profile: o.profile ? summarizeCpuProfiles(profileDir, 12) : undefined };
}

function settingsRows(o: FlashCrowdOptions, started: Date, code: string): ReportSetting[] {
  const serviceS = o.sizes.map((s) => (s / o.rateBps).toFixed(2)).join(', ');
  const meanS = o.sizes.reduce((a, s) => a + s / o.rateBps, 0) / o.sizes.length;
  return [
    { label: 'Date (UTC)', value: started.toISOString().replace(/\.\d+Z$/, 'Z') },
    { label: 'Machine', value: `${cpuModel()}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}` },
    { label: 'Code (when the run started)', value: code },
    { label: 'Crowd', value: `${o.clients.toLocaleString('en-US')} clients, each arriving at a uniformly random time within ${o.arrivalS} s (seed ${o.seed}; the same crowd for both systems)` },
    { label: 'Topology', value: `1 reception + ${o.servers} content servers × ${o.slotsPerServer} slots = ${o.servers * o.slotsPerServer} slots, each a \`tessera serve\` process on loopback; SQLite; load reports every 200 ms` },
    { label: 'Items', value: `${o.sizes.map(fmtBytes).join(', ')}, one chosen at random per client, on every content server` },
    { label: 'Transfer rate', value: `${fmtBytes(o.rateBps)}/s per ticket (TESSERA_TRANSFER_RATE_BPS): service times ${serviceS} s, mean ${meanS.toFixed(2)} s` },
    { label: 'Reception', value: `waiting line: TESSERA_QUEUE_MAX=${Math.max(10_000, o.clients * 2)}; plain 503: TESSERA_QUEUE_MAX=0. Defaults otherwise: grace 30 s, hold 30 s, ${5}/s burst ${20} new orders per address` },
    { label: 'Clients', value: `one load-generator process; each client sends from its own loopback address (127.0.x.y), so the per-address rate limit keeps its default. Line: the client library's placeOrderAdmitted, \`Prefer: wait=${o.preferWaitS}\`. Plain: a new order ${o.retryMs / 1000} s after every 503, 429 or unanswered request (30 s timeout), whatever Retry-After says. Downloads are read, counted and discarded; each length is checked; ${o.downloadConnection === 'close' ? 'the connection closes when the body ends (as curl and `tessera get`)' : 'the connection stays open afterwards (as a browser)'}` },
    { label: 'Sampling', value: `every ${o.sampleMs} ms: each content server's slot table (GET /control/state); the line's length and the admissions from the reception's database (read-only)` },
  ];
}

/** What a run leaves in its directory, enough to report it again (`--from DIR`). */
interface SavedRun extends Omit<SystemRun, 'admissions' | 'orders'> {
  readonly admissions: Admission[];
  readonly orders: OrderRow[];
}

interface SavedSettings {
  readonly options: Omit<FlashCrowdOptions, 'log' | 'chartPath'>;
  readonly started: string;
  /** Absent in directories kept before it was recorded. */
  readonly code?: string;
}

function saveRun(dir: string, run: SystemRun): void {
  const saved: SavedRun = { ...run, admissions: [...run.admissions.values()], orders: [...run.orders.values()] };
  writeFileSync(join(dir, `${run.name}-run.json`), JSON.stringify(saved));
}

/** The runs and settings a kept directory holds. */
export function loadRuns(dir: string): { options: Omit<FlashCrowdOptions, 'log' | 'chartPath'>; started: Date; code: string; runs: Map<SystemName, SystemRun> } {
  const settings = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as SavedSettings;
  const runs = new Map<SystemName, SystemRun>();
  for (const name of ['line', 'plain'] as const) {
    const file = join(dir, `${name}-run.json`);
    if (!existsSync(file)) continue;
    const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedRun;
    runs.set(name, { ...saved, admissions: new Map(saved.admissions.map((a) => [a.orderId, a])), orders: new Map(saved.orders.map((r) => [r.id, r])) });
  }
  return { options: settings.options, started: new Date(settings.started), code: settings.code ?? 'not recorded', runs };
}

/** The Markdown (and the chart, when `o.chartPath` is set) for runs already made. */
export function reportRuns(o: FlashCrowdOptions, started: Date, code: string, runs: ReadonlyMap<SystemName, SystemRun>): string {
  const analyses = new Map<SystemName, SystemAnalysis>();
  for (const [name, run] of runs) analyses.set(name, analyseRun(run));
  const line = analyses.get('line');
  let chartFile: string | undefined;
  if (o.chartPath && line?.estimates) {
    mkdirSync(dirname(o.chartPath), { recursive: true });
    writeFileSync(
      o.chartPath,
      estimateChartSvg({
        title: `Predicted against actual wait in line — ${o.clients.toLocaleString('en-US')} clients, ${o.servers * o.slotsPerServer} slots`,
        subtitle: `${started.toISOString().slice(0, 10)}; items ${o.sizes.map(fmtBytes).join(', ')} at ${fmtBytes(o.rateBps)}/s; npm run bench:crowd`,
        first: line.estimates.firstPoints,
        all: line.estimates.allPoints,
      }),
    );
    chartFile = relative(dirname(DOCS), o.chartPath);
  }
  return flashCrowdMarkdown({ settings: settingsRows(o, started, code), line, plain: analyses.get('plain'), chartFile, goals: GOALS });
}

export async function runFlashCrowdBench(options: Partial<FlashCrowdOptions> = {}): Promise<string> {
  const o: FlashCrowdOptions = { ...defaultFlashCrowdOptions, ...options };
  if (!Number.isSafeInteger(o.clients) || o.clients < 1 || o.clients > 20_000) throw new RangeError('clients must be 1..20000');
  // test/support/cluster.ts finds the CLI relative to the working directory.
  process.chdir(REPO);
  const started = new Date();
  const workDir = mkdtempSync(join(tmpdir(), 'tessera-crowd-'));
  try {
    const { log: _log, chartPath: _chart, ...kept } = o;
    // Several engineers build into the same dist/: record what was there when the processes started.
    const code = codeVersion(REPO);
    const settings: SavedSettings = { options: kept, started: started.toISOString(), code };
    writeFileSync(join(workDir, 'settings.json'), JSON.stringify(settings));
    const files = o.sizes.map((size, i) => {
      const path = join(workDir, `item-${i + 1}.bin`);
      writeFileSync(path, randomBytes(size));
      return { path, size };
    });
    const runs = new Map<SystemName, SystemRun>();
    for (const name of o.systems) {
      const run = await runSystem(name, o, files, workDir);
      runs.set(name, run);
      saveRun(workDir, run);
      o.log(`${name}: ${run.crowd.records.filter((r) => r.downloadEndAt !== null).length}/${run.crowd.records.length} served`);
    }
    return reportRuns(o, started, code, runs);
  } finally {
    if (o.keep) o.log(`kept ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

const USAGE = `usage: node dist/bench/flash-crowd/run.js [options]
  --clients N      clients in the crowd (default 2000)
  --arrival-s S    they arrive within S seconds (default 3)
  --system S       both | line | plain (default both)
  --rate BPS       transfer rate per ticket, bytes/s (default 1048576)
  --no-docs        print the Markdown; do not touch docs/
  --keep           keep the temp directory with every client's record
  --profile        profile the reception's CPU and add where it went to the report
  --keep-alive     downloads keep their connection open afterwards (default: close, as curl)
  --from DIR       report again from a directory kept by --keep (no new run)
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string' },
      'arrival-s': { type: 'string' },
      system: { type: 'string', default: 'both' },
      rate: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'keep-alive': { type: 'boolean', default: false },
      from: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const systems: SystemName[] = values.system === 'line' ? ['line'] : values.system === 'plain' ? ['plain'] : ['line', 'plain'];
  if (!['both', 'line', 'plain'].includes(values.system)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const writeDocs = !values['no-docs'];
  let markdown: string;
  if (values.from !== undefined) {
    const { options, started, code, runs } = loadRuns(values.from);
    markdown = reportRuns({ ...defaultFlashCrowdOptions, ...options, chartPath: writeDocs ? CHART : undefined }, started, code, runs);
  } else {
    markdown = await runFlashCrowdBench({
      ...(values.clients !== undefined ? { clients: Number(values.clients) } : {}),
      ...(values['arrival-s'] !== undefined ? { arrivalS: Number(values['arrival-s']) } : {}),
      ...(values.rate !== undefined ? { rateBps: Number(values.rate) } : {}),
      systems,
      chartPath: writeDocs ? CHART : undefined,
      keep: values.keep,
      profile: values.profile,
      downloadConnection: values['keep-alive'] ? 'keep-alive' : 'close',
    });
  }
  process.stdout.write(`\n${markdown}\n`);
  if (writeDocs) {
    writeCrowdBlock(DOCS, markdown);
    process.stdout.write(`\nwritten to ${relative(REPO, DOCS)} and ${relative(REPO, CHART)}\n`);
  }
  return 0;
}

async function stopEverything(): Promise<void> {
  for (const child of live.children) child.kill('SIGKILL');
  await Promise.all([...live.clusters].map((c) => c.stop()));
}

if (process.argv[1] !== undefined && existsSync(process.argv[1]) && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping every process this bench started\n`);
      void stopEverything().finally(() => process.exit(130));
    });
  }
  main().then(
    (code) => {
      process.exitCode = code;
    },
    async (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      await stopEverything();
      process.exitCode = 1;
    },
  );
}
