import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { addContent, type AdminTarget } from '../../src/cli/admin-client.js';
import { ensureRootSecretFile } from '../../src/config/secret.js';
import { adminToken } from '../../src/servers/reception/control-app.js';
import type { Topology } from '../../src/topology/topology.js';
import { writeBlock } from '../docs-block.js';
import { stopChild } from '../harness/managed-process.js';
import { summarizeCpuProfiles } from '../harness/cpu-profile.js';
import { machineInfo } from '../harness/machine.js';
import { waitForQuiet } from '../harness/measure.js';
import { freePorts, sleep } from '../harness/net.js';
import { clockTicksPerSecond, mainThreadSchedStat, readCpuTicks, schedDelta, treeTicks, type SchedStat } from '../harness/proc-stat.js';
import type { LoadConfig, LoadItem, LoadResult } from './load-process.js';
import { clientPortsTo, pidsByCommand, rolesOf, type RoleProcess } from './process-roles.js';
import { accountOrders, cpuUse, receptionWriteCaller, summarizeLatencies, tallyPlacements, type OrderRow, type TickSpan } from './scale-analysis.js';
import { SCALE_OUT_BEGIN, SCALE_OUT_END } from './markers.js';
import { scaleOutMarkdown, type ReceptionScheduling, type ScaleOutSettings, type SystemReport } from './scale-report.js';

// `npm run bench:scale-out` (issue 5, item 4): sustained order placement and download against
//
//   scale:    2 receptions behind the nginx entry, PostgreSQL and Redis (databaseUrl and
//             redisUrl in the topology), 3 content servers;
//   embedded: the embedded defaults as `tessera up` starts them with no topology file — one
//             reception, SQLite, in-process state — with the same 3 content servers.
//
// Each is started by `tessera up --topology FILE` itself (nginx included), loaded by a separate
// process (load-process.ts), then stopped; every order the client got a 201 for is then looked
// up in the database and must be completed. The receptions are CPU-profiled over the measured
// window only (window-profile-preload.ts), CPU per process comes from /proc.
//
//   npm run bench:scale-out                      60 s per system; writes docs/benchmarks.md
//   npm run bench:scale-out -- --seconds 5       smoke test; writes only bench/results/
//
// Options: --seconds N, --workers N (default 12), --systems scale,embedded, --no-profile,
// --write-docs (also for runs shorter than 60 s), --postgres URL, --redis URL (`--redis off`:
// the scale system on PostgreSQL alone, with each reception's in-process state).

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(REPO, 'dist/src/cli/tessera.js');
const LOAD_PROCESS = join(HERE, 'load-process.js');
const PROFILE_PRELOAD = join(HERE, 'window-profile-preload.js');
const DOCS = join(REPO, 'docs/benchmarks.md');
const RESULTS = join(REPO, 'bench/results');

const SYSTEMS = ['scale', 'embedded'] as const;
type SystemName = (typeof SYSTEMS)[number];

const ITEMS: readonly { size: number; weight: number }[] = [
  { size: 4 * 1024, weight: 4 },
  { size: 32 * 1024, weight: 3 },
  { size: 128 * 1024, weight: 2 },
  { size: 512 * 1024, weight: 1 },
];
// Generous for small items: closed-loop clients re-order within a report interval of their last
// download, and the reception counts a slot as taken until a report says it is free again.
const SLOTS_PER_SERVER = 32;
const WARMUP_S = 2;
const SETTLE_MS = 30_000;

interface Options {
  readonly seconds: number;
  readonly workers: number;
  readonly systems: readonly SystemName[];
  readonly profile: boolean;
  readonly writeDocs: boolean;
  readonly postgresUrl: string;
  readonly redisUrl: string;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '60' },
      workers: { type: 'string', default: '12' },
      systems: { type: 'string', default: SYSTEMS.join(',') },
      'no-profile': { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      postgres: { type: 'string', default: process.env['TESSERA_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test' },
      redis: { type: 'string', default: process.env['TESSERA_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379' },
    },
  });
  const seconds = Number(values.seconds);
  const workers = Number(values.workers);
  if (!(Number.isFinite(seconds) && seconds >= 1)) throw new Error('--seconds must be at least 1');
  if (!(Number.isInteger(workers) && workers >= 1)) throw new Error('--workers must be a positive integer');
  // Closed-loop clients below the slot count: the load is sustained without the waiting line.
  if (workers >= 3 * SLOTS_PER_SERVER) throw new Error(`--workers must stay below the ${3 * SLOTS_PER_SERVER} slots`);
  const systems = values.systems.split(',').map((s) => s.trim()) as SystemName[];
  for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`unknown system ${s} (${SYSTEMS.join(', ')})`);
  return {
    seconds,
    workers,
    systems,
    profile: !values['no-profile'],
    // A short run is a smoke test: its figures are not worth recording.
    writeDocs: values['write-docs'] || seconds >= 60,
    postgresUrl: values.postgres,
    redisUrl: values.redis,
  };
}

const log = (line: string): void => void process.stderr.write(`bench:scale-out: ${line}\n`);

/** A schema of our own in the shared test database, dropped afterwards. */
async function freshSchema(postgresUrl: string): Promise<{ url: string; drop: () => Promise<void>; schema: string }> {
  const schema = `bench_scale_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    drop: async () => {
      const c = new pg.Client({ connectionString: postgresUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

async function topologyFor(system: SystemName, databaseUrl: string | undefined, redisUrl: string | undefined): Promise<Topology & { redisUrl?: string }> {
  // Every port at once, held open until all are found: two servers can never be given the same one.
  const ports = await freePorts(11);
  const next = (): number => ports.shift() as number;
  const servers = [1, 2, 3].map((i) => ({ id: `cs-${i}`, publicPort: next(), controlPort: next(), capacity: SLOTS_PER_SERVER, area: 'local', cost: i }));
  if (system === 'embedded') return { host: '127.0.0.1', receptions: [{ publicPort: next(), controlPort: next() }], contentServers: servers };
  return {
    host: '127.0.0.1',
    receptions: [
      { publicPort: next(), controlPort: next() },
      { publicPort: next(), controlPort: next() },
    ],
    entry: { publicPort: next(), balancer: 'nginx' },
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    contentServers: servers,
  };
}

/** `tessera up` as a user runs it; resolves once it says it is up. */
function startUp(topologyFile: string, dataDir: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolveUp, reject) => {
    const child = spawn(process.execPath, [CLI, 'up', '--topology', topologyFile, '--data', dataDir, '--no-samples'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`tessera up did not come up in 90 s:\n${output}`)), 90_000);
    const onData = (d: Buffer): void => {
      output += d.toString('utf8');
      if (output.includes('Tessera is up.')) {
        clearTimeout(timer);
        resolveUp(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tessera up exited (${code}) before it was up:\n${output}`));
    });
  });
}

/** `tessera up` stops its processes on SIGINT, as after Ctrl-C. */
const stopUp = (child: ChildProcess): Promise<void> => stopChild(child, 'SIGINT', 20_000);

async function liveServers(target: AdminTarget): Promise<number> {
  const response = await fetch(`${target.controlUrl}/admin/servers`, { headers: { authorization: `Bearer ${target.token}` } });
  const { servers } = (await response.json()) as { servers: { live: boolean }[] };
  return servers.filter((s) => s.live).length;
}

function runLoad(config: LoadConfig, configFile: string, onStarted: () => void): Promise<LoadResult> {
  writeFileSync(configFile, JSON.stringify(config));
  return new Promise((resolveLoad, reject) => {
    // A clean environment: no profiling preload in the load generator.
    const env = { ...process.env };
    delete env['NODE_OPTIONS'];
    const child = spawn(process.execPath, [LOAD_PROCESS, configFile], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let started = false;
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (!started && out.includes('started ')) {
        started = true;
        onStarted();
      }
    });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolveLoad(JSON.parse(readFileSync(config.resultFile, 'utf8')) as LoadResult);
    });
  });
}

interface OrderReader {
  read(ids: readonly string[]): Promise<OrderRow[]>;
  close(): Promise<void>;
}

function sqliteReader(file: string): OrderReader {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  return {
    read: async () => db.prepare('select id, state from orders').all() as OrderRow[],
    close: async () => void db.close(),
  };
}

async function postgresReader(postgresUrl: string, schema: string): Promise<OrderReader> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  return {
    read: async () => (await client.query<OrderRow>(`select id, state from ${schema}.orders`)).rows,
    close: () => client.end(),
  };
}

/** Waits until no accepted order is still ticketed (its completion is on its way), or the deadline. */
async function settledRows(reader: OrderReader, accepted: readonly string[]): Promise<OrderRow[]> {
  const wanted = new Set(accepted);
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const rows = await reader.read(accepted);
    const pending = rows.filter((r) => wanted.has(r.id) && r.state === 'ticketed').length;
    if (pending === 0 || Date.now() > deadline) return rows;
    await sleep(250);
  }
}

/** VmHWM: the most resident memory the process has had, KiB (0 when it is gone). */
function peakRssKiB(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** PostgreSQL backends serving our receptions' connections (pg_stat_activity by client port). */
async function postgresBackends(postgresUrl: string, receptionPids: readonly number[]): Promise<number[]> {
  const ports = clientPortsTo(receptionPids, Number(new URL(postgresUrl).port || 5432));
  if (ports.size === 0) return [];
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number; client_port: number }>('select pid, client_port from pg_stat_activity where client_port is not null');
    return rows.filter((r) => ports.has(r.client_port)).map((r) => r.pid);
  } finally {
    await client.end();
  }
}

function receptionScheduling(start: ReadonlyMap<number, SchedStat | undefined>, windowS: number): ReceptionScheduling[] {
  const out: ReceptionScheduling[] = [];
  for (const [pid, before] of start) {
    const after = mainThreadSchedStat(pid);
    if (before === undefined || after === undefined) continue;
    out.push({ name: `reception-${pid}`, windowS, ...schedDelta(before, after) });
  }
  return out;
}

/** The reception profiles' writev and writeUtf8String time, shared out by what it was written for. */
const WRITES = { functionNames: ['writev', 'writeUtf8String', 'writeBuffer', 'writeLatin1String'], callerOf: receptionWriteCaller };

async function runSystem(system: SystemName, o: Options, files: readonly { path: string; size: number; sha256: string; weight: number }[], workDir: string): Promise<SystemReport> {
  const schema = system === 'scale' ? await freshSchema(o.postgresUrl) : undefined;
  const topology = await topologyFor(system, schema?.url, system === 'scale' && o.redisUrl !== 'off' ? o.redisUrl : undefined);
  const topologyFile = join(workDir, `${system}-topology.json`);
  writeFileSync(topologyFile, JSON.stringify(topology, null, 2));
  const dataDir = join(workDir, `${system}-data`);
  const profileDir = join(workDir, `${system}-profiles`);
  mkdirSync(profileDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // One client address for every order: lift the per-address limit (it is not what we measure).
    TESSERA_ORDER_RATE_PER_S: '1000000',
    TESSERA_ORDER_BURST: '1000000',
    TESSERA_LOG_LEVEL: 'warn',
    // Our own keys on the shared Redis, apart from the tests that use it meanwhile.
    TESSERA_REDIS_PREFIX: `bench-scale-${process.pid}:`,
    ...(o.profile ? { NODE_OPTIONS: `--import=${PROFILE_PRELOAD}`, TESSERA_BENCH_PROFILE_ROLE: 'reception', TESSERA_BENCH_PROFILE_DIR: profileDir } : {}),
  };
  const busy = await waitForQuiet(0.5, 20_000);
  log(`${system}: ${busy.toFixed(2)} cores busy before the start; tessera up --topology ${topologyFile}`);
  const up = await startUp(topologyFile, dataDir, env);
  let reader: OrderReader | undefined;
  try {
    const root = ensureRootSecretFile(join(dataDir, 'secret.key'));
    const admin: AdminTarget = { controlUrl: `http://127.0.0.1:${(topology.receptions[0] as { controlPort: number }).controlPort}`, token: adminToken(root) };
    // Content is placed on the servers a reception knows: wait until every reception knows all three.
    for (const r of topology.receptions) {
      const target = { ...admin, controlUrl: `http://127.0.0.1:${r.controlPort}` };
      const deadline = Date.now() + 15_000;
      while ((await liveServers(target)) < 3) {
        if (Date.now() > deadline) throw new Error(`reception on ${r.controlPort} does not see 3 live content servers`);
        await sleep(100);
      }
    }
    const items: LoadItem[] = [];
    for (const [i, file] of files.entries()) {
      const added = await addContent(admin, file.path, `Scale-out item ${i + 1}`);
      const body = added.json as { content?: { id: string; size: number; sha256: string }; replicas?: string[] };
      if (added.status !== 201 || !body.content) throw new Error(`adding ${file.path} failed: ${JSON.stringify(added.json)}`);
      if ((body.replicas ?? []).length !== 3) throw new Error(`item ${i + 1} reached ${(body.replicas ?? []).join(', ')} only`);
      if (body.content.sha256 !== file.sha256) throw new Error(`item ${i + 1}: the catalogue's SHA-256 differs`);
      items.push({ id: body.content.id, size: file.size, sha256: file.sha256, weight: file.weight });
    }
    const receptionUrl = `http://127.0.0.1:${topology.entry?.publicPort ?? (topology.receptions[0] as { publicPort: number }).publicPort}`;
    const loadConfig = (seconds: number, tag: string): LoadConfig => ({ receptionUrl, items, workers: o.workers, seconds, resultFile: join(workDir, `${system}-${tag}-result.json`), seed: 5 });
    log(`${system}: warm-up ${WARMUP_S} s`);
    const warmup = await runLoad(loadConfig(WARMUP_S, 'warmup'), join(workDir, `${system}-warmup.json`), () => undefined);

    const roles = rolesOf(up.pid as number, topology.receptions.map((r) => r.publicPort));
    const receptionPids = roles.filter((r) => r.name.startsWith('reception')).flatMap((r) => r.pids);
    const groups: RoleProcess[] = [...roles.filter((r) => r.name !== 'other')];
    if (system === 'scale') {
      groups.push({ name: 'PostgreSQL (our backends)', pids: await postgresBackends(o.postgresUrl, receptionPids) });
      if (o.redisUrl !== 'off') groups.push({ name: 'Redis (whole server)', pids: pidsByCommand('redis-server') });
    }
    const hz = clockTicksPerSecond();
    let before: number[] = [];
    let machineBefore = 0;
    let stealBefore = 0;
    let t0 = 0;
    log(`${system}: measuring ${o.seconds} s with ${o.workers} clients`);
    if (o.profile) for (const pid of receptionPids) process.kill(pid, 'SIGUSR2');
    // The receptions' main threads over the same span as their profiles (until just before the stop).
    const schedStart = new Map(receptionPids.map((pid) => [pid, mainThreadSchedStat(pid)]));
    const schedStartedAt = Date.now();
    const result = await runLoad(loadConfig(o.seconds, 'run'), join(workDir, `${system}-run.json`), () => {
      t0 = Date.now();
      const ticks = readCpuTicks();
      machineBefore = ticks.busy;
      stealBefore = ticks.steal;
      before = groups.map((g) => treeTicks(g.pids));
    });
    const wall = (Date.now() - t0) / 1000;
    const ticksAfter = readCpuTicks();
    const machineCores = (ticksAfter.busy - machineBefore) / hz / wall;
    const stolenCores = (ticksAfter.steal - stealBefore) / hz / wall;
    const spans: TickSpan[] = groups.map((g, i) => ({ name: g.name, before: before[i] ?? 0, after: treeTicks(g.pids) }));
    // Peak resident memory of our own processes (PostgreSQL's and Redis's include shared memory: left out).
    const peakRss = roles.filter((r) => r.name !== 'other').map((r) => ({ name: r.name, mib: r.pids.reduce((sum, pid) => sum + peakRssKiB(pid), 0) / 1024 }));

    const all = [...warmup.placements, ...result.placements];
    const acceptedIds = all.filter((p) => Math.abs(p.status) === 201 && p.orderId !== undefined).map((p) => p.orderId as string);
    reader = schema ? await postgresReader(o.postgresUrl, schema.schema) : sqliteReader(join(dataDir, 'tessera.db'));
    const rows = await settledRows(reader, acceptedIds);
    const scheduling = receptionScheduling(schedStart, (Date.now() - schedStartedAt) / 1000);
    const measuredWall = (result.endedAt - result.startedAt) / 1000;
    const placements = result.placements;
    const ok = placements.filter((p) => p.status === 201 && p.download?.intact === true);
    return {
      name: system,
      description: system === 'scale' ? `2 receptions + nginx, PostgreSQL, ${o.redisUrl === 'off' ? 'no Redis' : 'Redis'}` : '1 reception, SQLite, in-process',
      wallSeconds: measuredWall,
      ordersPerSecond: ok.length / measuredWall,
      // Placement latency of the orders admitted at once; those that waited in line are counted apart.
      placement: summarizeLatencies(placements.filter((p) => p.status === 201 && !p.waited).map((p) => p.latencyMs)),
      download: summarizeLatencies(ok.map((p) => (p.download as { ms: number }).ms)),
      tally: tallyPlacements(all),
      accounting: accountOrders(acceptedIds, rows),
      cpu: cpuUse(spans, hz, wall),
      loadGeneratorCores: result.cpuSeconds / measuredWall,
      peakRss,
      machineCores,
      stolenCores,
      scheduling,
      profile: '',
    };
  } finally {
    await reader?.close();
    await stopUp(up);
    await schema?.drop().catch((error: unknown) => log(`could not drop schema ${schema.schema}: ${String(error)}`));
  }
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const workDir = mkdtempSync(join(tmpdir(), 'tessera-scale-out-'));
  const files = ITEMS.map((item, i) => {
    const bytes = randomBytes(item.size);
    const path = join(workDir, `item-${i + 1}.bin`);
    writeFileSync(path, bytes);
    return { path, size: item.size, weight: item.weight, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  const machine = machineInfo(REPO);
  const reports: SystemReport[] = [];
  try {
    for (const system of o.systems) {
      const report = await runSystem(system, o, files, workDir);
      const profile = o.profile ? summarizeCpuProfiles(join(workDir, `${system}-profiles`), 8, WRITES) : '(profiling off: --no-profile)';
      reports.push({ ...report, profile });
      log(`${system}: ${report.ordersPerSecond.toFixed(1)} orders/s, p50 ${report.placement.p50.toFixed(1)} ms, p99 ${report.placement.p99.toFixed(1)} ms, errors ${report.tally.errors}, waited in line ${report.tally.waitedInLine}, lost ${report.accounting.lost}, not completed ${report.accounting.notCompleted}`);
    }
  } finally {
    if (process.env['TESSERA_BENCH_KEEP'] === undefined) rmSync(workDir, { recursive: true, force: true });
    else log(`kept ${workDir}`);
  }
  const settings: ScaleOutSettings = { seconds: o.seconds, workers: o.workers, slotsPerServer: SLOTS_PER_SERVER, items: ITEMS, profiled: o.profile };
  const markdown = scaleOutMarkdown(machine, settings, reports);
  mkdirSync(RESULTS, { recursive: true });
  const stamp = machine.date.replace(/[:]/g, '-');
  writeFileSync(join(RESULTS, `scale-out-${stamp}.md`), `${markdown}\n`);
  writeFileSync(join(RESULTS, `scale-out-${stamp}.json`), JSON.stringify({ machine, settings, reports }, null, 2));
  log(`results in bench/results/scale-out-${stamp}.md`);
  if (o.writeDocs) {
    writeBlock(DOCS, { begin: SCALE_OUT_BEGIN, end: SCALE_OUT_END }, markdown);
    log('docs/benchmarks.md updated');
  } else log(`a ${o.seconds} s run is a smoke test: docs/benchmarks.md left alone (--write-docs to record it)`);
  const failed = reports.filter((r) => r.tally.errors > 0 || r.accounting.lost > 0 || r.accounting.notCompleted > 0);
  if (failed.length > 0) {
    log(`FAILED: errors or lost orders in ${failed.map((r) => r.name).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:scale-out: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
