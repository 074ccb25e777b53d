import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runTicketBench } from './ticket-bench.js';
import { ContentServerProcess, type BenchItem } from './harness/content-server-process.js';
import { downloadAll } from './harness/curl-download.js';
import { writeResults } from './harness/docs-writer.js';
import { machineInfo } from './harness/machine.js';
import { killAllNow, startProcess, stopAll, type ManagedProcess } from './harness/managed-process.js';
import { goalTable, largeTable, machineTable, smallTable, fmtInt, fmtRatio, rowValue, type Goal } from './harness/markdown.js';
import { waitForQuiet, withCpuBill } from './harness/measure.js';
import { freePort, httpCall, LOOPBACK, waitForHttp } from './harness/net.js';
import { startNginx, type RunningNginx } from './harness/nginx.js';
import { missingPrerequisites } from './harness/prerequisites.js';
import { processTree, setAffinity } from './harness/proc-stat.js';
import { ReceptionStub } from './harness/reception-stub.js';
import type { Placement, RowResult, RowSpec, Sample } from './harness/results.js';
import { contentServerTarget, MAX_NOTICES_PER_RUN, nginxSecureLinkTarget, noticeLog, plainNodeTarget, type BenchFiles, type Target } from './harness/targets.js';
import { runWrk, writeWrkScript } from './harness/wrk.js';
import { summarizeCpuProfiles } from './harness/cpu-profile.js';

// `npm run bench`: every benchmark of the project in one run, written into docs/benchmarks.md.
//
//   1. permission tickets: mint and verify per second on one core (bench/ticket-bench.ts);
//   2. a 1 KiB item, one fresh ticket per request, through a real content server process,
//      against nginx + secure_link and plain Node servers, in the same run;
//   3. a 256 MiB download, alone and 8 in parallel, content server against nginx (sendfile).
//
// Placement: this machine has few cores and the load generator needs CPU too. "pinned" runs
// put the server side on CPU 0 and wrk/curl plus the bench process (which plays the
// reception) on CPU 1, so each server gets exactly one core; "shared" runs pin nothing and
// run nginx with one worker per CPU. Repetitions of different rows are interleaved so that
// drift in the machine's load hits them alike; each row reports its best run (other load only
// slows runs down) beside the median and range, and a run disturbed by other processes is
// taken again once.

const USAGE = `usage: node dist/bench/run.js [options]
  --seconds N    wrk duration per small-item run (default 5)
  --reps N       repetitions per row (default 3)
  --quick        2 s runs, 1 repetition: checks the harness, results not written to docs
  --suite S      all | tickets | small | large (default all)
  --no-docs      print the tables, do not write docs/benchmarks.md
  --profile      run the content servers with --cpu-prof and print where their time goes
  --keep         keep the temp directory (logs, configs, profiles)
`;

const SMALL_SIZE = 1024;
const LARGE_SIZE = 256 * 1024 * 1024;
const WRK_CONNECTIONS = 64;
const PARALLEL_DOWNLOADS = 8;
const SINGLE_DOWNLOADS_PER_REP = 3;
const WARMUP_SECONDS = 2;
const CAPACITY = 100_000;
const DOCS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

interface Settings {
  readonly seconds: number;
  readonly reps: number;
  readonly suite: 'all' | 'tickets' | 'small' | 'large';
  readonly writeDocs: boolean;
  readonly profile: boolean;
  readonly keep: boolean;
  readonly quick: boolean;
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      reps: { type: 'string' },
      quick: { type: 'boolean', default: false },
      suite: { type: 'string', default: 'all' },
      'no-docs': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const seconds = Number(values.seconds ?? (quick ? 2 : 5));
  const reps = Number(values.reps ?? (quick ? 1 : 3));
  const suite = values.suite;
  if (!(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60)) throw new TypeError('--seconds must be an integer 1..60');
  if (!(Number.isInteger(reps) && reps >= 1 && reps <= 10)) throw new TypeError('--reps must be an integer 1..10');
  if (suite !== 'all' && suite !== 'tickets' && suite !== 'small' && suite !== 'large') throw new TypeError('--suite must be all | tickets | small | large');
  // A partial or quick run would overwrite the full tables with less: print only.
  const writeDocs = values['no-docs'] !== true && !quick && suite === 'all';
  return { seconds, reps, suite, writeDocs, profile: values.profile === true, keep: values.keep === true, quick };
}

function log(message: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Random bytes (incompressible, nothing to gain from a clever path), and their SHA-256. */
function writeRandomFile(path: string, size: number): string {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const n = Math.min(chunk.length, size - written);
      randomFillSync(chunk, 0, n);
      writeSync(fd, chunk, 0, n);
      hash.update(chunk.subarray(0, n));
      written += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function benchItem(dir: string, fileName: string, size: number): BenchItem {
  const path = join(dir, fileName);
  return { contentId: randomUUIDv4(), fileName, size, sha256: writeRandomFile(path, size), path };
}

function randomUUIDv4(): string {
  const b = randomBytes(16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const ALL_CPUS = `0-${cpus().length - 1}`;

/** Pins the server side to CPU 0 and the client and bench to CPU 1, or unpins everything. */
function place(target: Target, placement: Placement): string | undefined {
  const serverPids = target.pids.flatMap((pid) => processTree(pid));
  if (placement === 'pinned') {
    setAffinity(serverPids, '0');
    setAffinity([process.pid], '1');
    return '1';
  }
  setAffinity(serverPids, ALL_CPUS);
  setAffinity([process.pid], ALL_CPUS);
  return undefined;
}

/** Fails early, with the answer, when a set-up does not serve the item as it should. */
async function preflight(target: Target, files: BenchFiles): Promise<void> {
  const [path] = await target.smallPaths(1, 1);
  const res = await httpCall(`${target.baseUrl}${path ?? '/'}`);
  if (res.status !== 200 || !res.body.equals(await smallBytes(files))) {
    throw new Error(`${target.name} answered ${res.status} with ${res.body.length} bytes for the small item: ${res.body.toString('utf8', 0, 300)}`);
  }
  await target.settle();
}

let smallCache: Buffer | undefined;
async function smallBytes(files: BenchFiles): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  smallCache ??= await readFile(files.small.path);
  return smallCache;
}

interface SmallRunner {
  readonly dir: string;
  readonly script: string;
  readonly settings: Settings;
  readonly estimates: Map<string, number>;
}

/**
 * Other people's processes may take CPU in the middle of a run (the machine is shared); such a
 * run is taken again, at most MAX_RETAKES times, after waiting for the machine to calm down.
 */
const FOREIGN_LIMIT_CORES = 0.15;
const startedAt = Date.now();
/**
 * Retakes stop after these points, so the whole bench stays near ten minutes however busy the
 * machine is: a small-item retake costs a whole wrk run, a large-file one a second or two.
 */
const RETAKES = { small: { max: 1, untilMs: 7 * 60_000 }, large: { max: 2, untilMs: 10 * 60_000 } } as const;

function mayRetake(retakes: number, kind: keyof typeof RETAKES): boolean {
  return retakes < RETAKES[kind].max && Date.now() - startedAt < RETAKES[kind].untilMs;
}

/** Waits a little for a quiet machine before a measured run; less once time is short. */
function quietBeforeRun(): Promise<number> {
  return waitForQuiet(0.5, Date.now() - startedAt < 7 * 60_000 ? 3000 : 1000);
}

async function smallRun(runner: SmallRunner, row: RowSpec, seconds: number, warmup: boolean): Promise<Sample> {
  for (let retakes = 0; ; retakes++) {
    const { sample, ranOut } = await smallAttempt(runner, row, seconds, warmup);
    const noisy = sample.bill.foreignCores > FOREIGN_LIMIT_CORES;
    if (warmup || !mayRetake(retakes, 'small') || (!noisy && !ranOut)) return { ...sample, retakes };
    log(`  ${row.key}: taking the run again (${ranOut ? 'ran out of fresh tickets' : `other processes used ${sample.bill.foreignCores.toFixed(2)} cores`})`);
    if (noisy) await waitForQuiet(0.3, 5000);
  }
}

async function smallAttempt(runner: SmallRunner, row: RowSpec, seconds: number, warmup: boolean): Promise<{ sample: Sample; ranOut: boolean }> {
  const target = row.target;
  const clientCpus = place(target, row.placement);
  // Enough fresh paths for the run at the best rate seen so far, with a wide margin (a warm-up
  // under noise can read low); a target whose notices hold slots is limited by its capacity,
  // and then runs for a shorter time.
  const seen = Math.max(runner.estimates.get(row.key) ?? 0, row.planLike ? (runner.estimates.get(row.planLike) ?? 0) : 0);
  const rate = Math.max(seen, target.planRatePerSecond, 1000);
  const margin = 1.5;
  let runSeconds = seconds;
  let count = Math.ceil(rate * runSeconds * margin) + 2000;
  if (count > target.maxSmallPaths) {
    runSeconds = Math.max(1, Math.floor((target.maxSmallPaths - 2000) / (rate * margin)));
    count = Math.min(target.maxSmallPaths, Math.ceil(rate * runSeconds * margin) + 2000);
  }
  const paths = await target.smallPaths(count, runSeconds);
  const pathsFile = join(runner.dir, `paths-${row.key}.txt`);
  writeFileSync(pathsFile, `${paths.join('\n')}\n`);
  if (!warmup) await quietBeforeRun();
  const threads = row.placement === 'pinned' ? 1 : cpus().length;
  const { result, bill } = await withCpuBill(target.pids, () =>
    runWrk({ script: runner.script, baseUrl: target.baseUrl, pathsFile, threads, connections: WRK_CONNECTIONS, seconds: runSeconds, cpus: clientCpus }),
  );
  rmSync(pathsFile, { force: true });
  await target.settle();
  // Paths reused on a plain server are harmless; on a content server they are used tickets.
  const ranOut = result.requests > count && target.planRatePerSecond < 80_000;
  if (ranOut && !warmup) log(`  ${row.key}: wrk ran out of fresh tickets (${result.requests} requests for ${count})`);
  if (result.errors > 0 && !warmup) log(`  ${row.key}: wrk errors: ${result.errorKinds}`);
  runner.estimates.set(row.key, Math.max(result.requestsPerSecond, runner.estimates.get(row.key) ?? 0));
  const sample: Sample = {
    value: result.requestsPerSecond,
    done: result.requests - result.errors,
    failed: result.errors,
    seconds: result.seconds,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    bill,
    retakes: 0,
  };
  return { sample, ranOut };
}

async function largeRun(row: RowSpec, parallel: number, expectedSize: number, warmup = false): Promise<Sample> {
  for (let retakes = 0; ; retakes++) {
    const clientCpus = place(row.target, row.placement);
    const urls = await row.target.largeUrls(parallel);
    if (!warmup) await quietBeforeRun();
    const { result, bill } = await withCpuBill(row.target.pids, () => downloadAll(urls, expectedSize, clientCpus));
    await row.target.settle();
    const sample: Sample = { value: result.bytesPerSecond, done: parallel - result.errors, failed: result.errors, seconds: result.seconds, bill, retakes };
    if (warmup || !mayRetake(retakes, 'large') || bill.foreignCores <= FOREIGN_LIMIT_CORES) return sample;
    log(`  ${row.key}: taking the download again (other processes used ${bill.foreignCores.toFixed(2)} cores)`);
    await waitForQuiet(0.3, 5000);
  }
}

/** Runs every row `reps` times, the rows interleaved and their order rotated each repetition. */
async function interleaved(rows: readonly RowSpec[], reps: number, one: (row: RowSpec) => Promise<Sample[]>): Promise<RowResult[]> {
  const results = rows.map((row): RowResult => ({ row, samples: [] }));
  for (let rep = 0; rep < reps; rep++) {
    for (let i = 0; i < results.length; i++) {
      const result = results[(i + rep) % results.length] as RowResult;
      if (result.skipped !== undefined) continue;
      try {
        const samples = await one(result.row);
        result.samples.push(...samples);
        const last = samples[samples.length - 1];
        log(`  rep ${rep + 1}/${reps} ${result.row.key}: ${last ? Math.round(last.value).toLocaleString('en-US') : '–'}${last && last.failed > 0 ? ` (${last.failed} failed)` : ''}`);
      } catch (error) {
        result.skipped = error instanceof Error ? error.message : String(error);
        log(`  ${result.row.key} failed, skipped from now on: ${result.skipped}`);
      }
    }
  }
  return results;
}

interface Running {
  readonly contentServers: ContentServerProcess[];
  readonly plain: ManagedProcess[];
  readonly nginx: RunningNginx[];
}

async function startPlainNode(dir: string, filesDir: string, mode: 'naive' | 'tuned'): Promise<{ process: ManagedProcess; port: number }> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./minimal-node-server.js', import.meta.url));
  const child = startProcess({
    label: `node-${mode}`,
    command: process.execPath,
    args: [script, mode, filesDir, String(port), String(1024 * 1024)],
    logFile: join(dir, `node-${mode}.log`),
  });
  await waitForHttp(`http://${LOOPBACK}:${port}/`, 10_000);
  return { process: child, port };
}

async function main(): Promise<number> {
  const settings = readSettings();
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(`The benchmark needs:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return 1;
  }
  const info = machineInfo(fileURLToPath(new URL('../..', import.meta.url)));
  log(`${info.cpuModel}, ${info.cores} cores; ${info.node}; nginx ${info.nginx}; load ${info.loadAverage}`);
  const sections: string[] = [];

  if (settings.suite === 'all' || settings.suite === 'tickets') {
    log('permission tickets: mint and verify (bench/ticket-bench.ts)');
    // One core, as the ticket bench says: keep the scheduler from moving it mid-run.
    setAffinity([process.pid], '0');
    const table = await runTicketBench(settings.quick ? { seconds: 0.3, runs: 1, warmupSeconds: 0.1 } : {});
    setAffinity([process.pid], ALL_CPUS);
    sections.push(`### Permission tickets, one core\n\n${table.trim()}`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  // nginx workers run as an unprivileged user when the bench runs as root: they must be able to
  // reach the files (mkdtemp makes the directory private).
  chmodSync(dir, 0o755);
  const running: Running = { contentServers: [], plain: [], nginx: [] };
  const root = randomBytes(32);
  const stub = new ReceptionStub(root);
  let small: RowResult[] = [];
  let largeOne: RowResult[] = [];
  let largeMany: RowResult[] = [];
  const servingSuites = settings.suite === 'all' || settings.suite === 'small' || settings.suite === 'large';
  try {
    if (servingSuites) {
      const filesDir = join(dir, 'files');
      mkdirSync(filesDir);
      log(`writing the 1 KiB item and the 256 MiB file under ${dir}`);
      const files: BenchFiles = { dir: filesDir, small: benchItem(filesDir, 'small.bin', SMALL_SIZE), large: benchItem(filesDir, 'big.bin', LARGE_SIZE) };
      await stub.start();

      const profileDir = join(dir, 'profiles');
      const nodeArgs = settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
      const startContent = async (serverId: string, noticeMode: 'required' | 'optional', deliveryMode: 'node' | 'accel', logLevel: string, items: BenchItem[]) => {
        const sdir = join(dir, serverId);
        mkdirSync(sdir);
        const server = await ContentServerProcess.start({ serverId, root, stub, dir: sdir, noticeMode, deliveryMode, logLevel, capacity: CAPACITY, nodeArgs });
        running.contentServers.push(server);
        for (const item of items) await server.placeReplica(item);
        return server;
      };
      log('starting content servers, plain Node servers and nginx');
      const csOpt = await startContent('bench-optional', 'optional', 'node', 'warn', [files.small]);
      const csReq = await startContent('bench-notices', 'required', 'node', 'warn', [files.small, files.large]);
      const csLog = await startContent('bench-logging', 'optional', 'node', 'info', [files.small]);
      const csAccel = await startContent('bench-accel', 'optional', 'accel', 'warn', [files.small, files.large]);
      const naive = await startPlainNode(dir, filesDir, 'naive');
      const tuned = await startPlainNode(dir, filesDir, 'tuned');
      running.plain.push(naive.process, tuned.process);
      const secret = randomBytes(16).toString('hex');
      const nginxOne = await startNginx({ label: 'nginx-1', dir: join(dir, 'nginx-1'), port: await freePort(), workers: 1, site: { kind: 'secure-link', root: filesDir, secret } });
      const nginxAuto = await startNginx({ label: 'nginx-auto', dir: join(dir, 'nginx-auto'), port: await freePort(), workers: 'auto', site: { kind: 'secure-link', root: filesDir, secret } });
      const front = await startNginx({
        label: 'nginx-front',
        dir: join(dir, 'nginx-front'),
        port: await freePort(),
        workers: 1,
        site: { kind: 'accel-front', upstreamPort: Number(new URL(csAccel.publicUrl).port), storeDir: csAccel.storeDir, accelPrefix: '/_tessera_accel' },
      });
      running.nginx.push(nginxOne, nginxAuto, front);

      const t = {
        nginxOne: nginxSecureLinkTarget('nginx-1', nginxOne, secret, files),
        nginxAuto: nginxSecureLinkTarget('nginx-auto', nginxAuto, secret, files),
        naive: plainNodeTarget('node-naive', naive.process, naive.port, files),
        tuned: plainNodeTarget('node-tuned', tuned.process, tuned.port, files),
        csOpt: contentServerTarget({ name: 'content-optional', server: csOpt, stub, files }),
        csReq: contentServerTarget({ name: 'content-notices', server: csReq, stub, files }),
        csLog: contentServerTarget({ name: 'content-logging', server: csLog, stub, files }),
        accel: contentServerTarget({ name: 'content-accel', server: csAccel, stub, files, front }),
      };
      for (const target of Object.values(t)) await preflight(target, files);
      const script = writeWrkScript(dir);

      if (settings.suite === 'all' || settings.suite === 'small') {
        const rows: RowSpec[] = [
          { key: 'nginx-1', label: 'nginx secure_link, 1 worker', target: t.nginxOne, placement: 'pinned' },
          { key: 'node-naive', label: 'minimal Node (stat + createReadStream per request), no checks', target: t.naive, placement: 'pinned' },
          { key: 'node-tuned', label: 'Node from memory, no checks (≈ content server without checks)', target: t.tuned, placement: 'pinned' },
          { key: 'cs-optional', label: 'content server, fresh ticket per request (notice mode optional)', target: t.csOpt, placement: 'pinned' },
          { key: 'cs-notices', label: 'content server, fresh ticket per request + notice sent before', target: t.csReq, placement: 'pinned', planLike: 'cs-optional' },
          { key: 'cs-logging', label: 'content server as cs-optional, access log on (TESSERA_LOG_LEVEL=info)', target: t.csLog, placement: 'pinned' },
          { key: 'cs-accel', label: 'nginx (1 worker) → content server checks ticket → X-Accel-Redirect', target: t.accel, placement: 'pinned' },
          { key: 'nginx-auto', label: `nginx secure_link, worker_processes auto (${cpus().length})`, target: t.nginxAuto, placement: 'shared' },
          { key: 'node-tuned-shared', label: 'Node from memory, no checks', target: t.tuned, placement: 'shared' },
          { key: 'cs-optional-shared', label: 'content server, fresh ticket per request (notice mode optional)', target: t.csOpt, placement: 'shared' },
        ];
        const runner: SmallRunner = { dir, script, settings, estimates: new Map() };
        log(`small item: warming up ${rows.length} set-ups (${WARMUP_SECONDS} s each)`);
        // cs-notices would send a notice per warm-up ticket: its cs-optional twin warms the same code.
        for (const row of rows) if (row.key !== 'cs-notices') await smallRun(runner, row, WARMUP_SECONDS, true);
        log(`small item: ${rows.length} set-ups × ${settings.reps} repetitions × ${settings.seconds} s`);
        small = await interleaved(rows, settings.reps, async (row) => [await smallRun(runner, row, settings.seconds, false)]);
      }

      if (settings.suite === 'all' || settings.suite === 'large') {
        const rows: RowSpec[] = [
          { key: 'nginx-1', label: 'nginx, sendfile on, 1 worker', target: t.nginxOne, placement: 'pinned' },
          { key: 'node-naive', label: 'minimal Node (createReadStream, 64 KiB reads)', target: t.naive, placement: 'pinned' },
          { key: 'node-tuned', label: 'Node, 1 MiB reads into one reused buffer', target: t.tuned, placement: 'pinned' },
          { key: 'cs-node', label: 'content server, ticket + notice, Node sends the bytes', target: t.csReq, placement: 'pinned' },
          { key: 'cs-accel', label: 'nginx (1 worker) + content server, X-Accel-Redirect', target: t.accel, placement: 'pinned' },
          { key: 'nginx-auto', label: `nginx, sendfile on, worker_processes auto (${cpus().length})`, target: t.nginxAuto, placement: 'shared' },
          { key: 'cs-node-shared', label: 'content server, ticket + notice, Node sends the bytes', target: t.csReq, placement: 'shared' },
        ];
        log('large file: warming up');
        for (const row of rows) await largeRun(row, 1, LARGE_SIZE, true);
        log(`large file: ${rows.length} set-ups × ${settings.reps} repetitions (${SINGLE_DOWNLOADS_PER_REP} single downloads, then ${PARALLEL_DOWNLOADS} in parallel)`);
        largeOne = await interleaved(rows, settings.reps, async (row) => {
          const samples: Sample[] = [];
          for (let i = 0; i < SINGLE_DOWNLOADS_PER_REP; i++) samples.push(await largeRun(row, 1, LARGE_SIZE));
          return samples;
        });
        largeMany = await interleaved(rows, settings.reps, async (row) => [await largeRun(row, PARALLEL_DOWNLOADS, LARGE_SIZE)]);
      }
    }
  } finally {
    setAffinity([process.pid], ALL_CPUS);
    log('stopping every process the bench started');
    for (const server of running.contentServers) await server.stop();
    await stopAll();
    await stub.stop();
    if (settings.profile) {
      const summary = summarizeCpuProfiles(join(dir, 'profiles'), 30);
      process.stdout.write(`\n${summary}\n`);
      writeFileSync(join(dir, 'profile-summary.md'), summary);
    }
    if (settings.keep || settings.profile) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }

  const settingsRows: [string, string][] = [
    ['Small item', `1 KiB, wrk ${WRK_CONNECTIONS} connections, ${settings.seconds} s per run (shorter for runs with notices, see below), ${settings.reps} runs per row, best run with median and range; a fresh ticket or secure_link per request (wrk Lua script over a file of paths)`],
    ['Large file', `256 MiB of random bytes from the page cache, curl to /dev/null; ${SINGLE_DOWNLOADS_PER_REP * settings.reps} single downloads and ${settings.reps} batches of ${PARALLEL_DOWNLOADS} per row; best run, with median and range`],
    ['Placement "pinned"', 'server side (nginx master + workers, or the Node process with all its threads, or nginx front + content server together) on CPU 0; wrk/curl and the bench process (which plays the reception) on CPU 1'],
    ['Placement "shared"', `nothing pinned; wrk runs ${cpus().length} threads`],
    ['nginx', 'access_log off, sendfile on, tcp_nopush on, keepalive_requests 1000000; secure_link md5 over expires + URI + client address + secret'],
    ['Content servers', 'one process each (`tessera serve content`), TESSERA_LOG_LEVEL=warn unless stated, capacity 100000 slots; the bench answers their load reports with the ticket keys and acknowledges every completion'],
  ];
  const baseline = (pool: readonly RowResult[]) => (r: RowResult): RowResult | undefined =>
    pool.find((b) => b.row.placement === r.row.placement && b.row.target.name === (r.row.placement === 'pinned' ? 'nginx-1' : 'nginx-auto'));
  const byKey = (pool: readonly RowResult[], key: string): RowResult | undefined => pool.find((r) => r.row.key === key);
  const generated: string[] = [`_Generated ${info.date} by \`npm run bench\`._`, machineTable(info, settingsRows), ...sections];
  if (small.length > 0) {
    const notices = noticeLog.filter((n) => n.count >= 1000).map((n) => `${fmtInt(n.count)} in ${n.seconds.toFixed(1)} s (${fmtInt(n.count / n.seconds)}/s)`).join('; ');
    generated.push(
      `### A 1 KiB item, requests per second\n\n${smallTable(small, baseline(small))}\n\n` +
        `Runs with notices are shortened so that at most ${fmtInt(MAX_NOTICES_PER_RUN)} notices are sent before each; ` +
        `the control channel accepted them at: ${notices || '–'}. ` +
        `Over the whole bench the reception stub acknowledged ${fmtInt(stub.completions)} completions: ` +
        `${fmtInt(stub.singles)} one per request, ${fmtInt(stub.completions - stub.singles)} in ${fmtInt(stub.batches)} batches.`,
    );
  }
  if (largeOne.length > 0) generated.push(`### A 256 MiB download over loopback\n\n${largeTable(largeOne, largeMany, baseline(largeOne), baseline(largeMany), PARALLEL_DOWNLOADS)}`);
  if (small.length > 0 || largeOne.length > 0) generated.push(`### Goals\n\n${goalTable(goals(small, largeOne, largeMany, byKey))}`);
  const text = generated.join('\n\n');
  process.stdout.write(`\n${text}\n`);
  if (settings.writeDocs) {
    writeResults(DOCS, text);
    log(`wrote ${DOCS}`);
  }
  return 0;
}

function goals(
  small: readonly RowResult[],
  largeOne: readonly RowResult[],
  largeMany: readonly RowResult[],
  byKey: (pool: readonly RowResult[], key: string) => RowResult | undefined,
): Goal[] {
  const ratio = (pool: readonly RowResult[], a: string, b: string): number => rowValue(byKey(pool, a)) / rowValue(byKey(pool, b));
  const list: Goal[] = [];
  const pct = (n: number): string => (Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : '–');
  const check = (n: number, ok: (n: number) => boolean): boolean | undefined => (Number.isFinite(n) ? ok(n) : undefined);
  if (small.length > 0) {
    const cost = 1 - ratio(small, 'cs-optional', 'node-tuned');
    const costNotice = 1 - ratio(small, 'cs-notices', 'node-tuned');
    list.push({
      goal: 'Ticket checks cost < 10% of requests/s against the same server without checks',
      measured: `${pct(cost)} (with a notice per ticket: ${pct(costNotice)}); the content server has no no-checks mode, so "without checks" is the Node-from-memory server, which answers the same way`,
      met: check(cost, (n) => n < 0.1),
    });
    const pinned = ratio(small, 'cs-optional', 'nginx-1');
    const shared = ratio(small, 'cs-optional-shared', 'nginx-auto');
    list.push({
      goal: 'Small-item requests/s ≥ 0.25× nginx',
      measured: `${fmtRatio(pinned)} on one core each; ${fmtRatio(shared)} with nothing pinned (nginx auto); with notices ${fmtRatio(ratio(small, 'cs-notices', 'nginx-1'))}`,
      met: check(Math.min(pinned, shared), (n) => n >= 0.25),
    });
  }
  if (largeOne.length > 0) {
    const one = ratio(largeOne, 'cs-node', 'nginx-1');
    const many = ratio(largeMany, 'cs-node', 'nginx-1');
    const accelOne = ratio(largeOne, 'cs-accel', 'nginx-1');
    const accelMany = ratio(largeMany, 'cs-accel', 'nginx-1');
    list.push({
      goal: 'Large-file throughput ≥ 80% of nginx (Node sends the bytes)',
      measured: `${pct(one)} single, ${pct(many)} with ${PARALLEL_DOWNLOADS} in parallel (one core each); nothing pinned: ${pct(ratio(largeOne, 'cs-node-shared', 'nginx-auto'))} / ${pct(ratio(largeMany, 'cs-node-shared', 'nginx-auto'))}`,
      met: check(Math.min(one, many), (n) => n >= 0.8),
    });
    list.push({
      goal: 'Large-file throughput ≥ 80% of nginx (X-Accel-Redirect mode)',
      measured: `${pct(accelOne)} single, ${pct(accelMany)} with ${PARALLEL_DOWNLOADS} in parallel`,
      met: check(Math.min(accelOne, accelMany), (n) => n >= 0.8),
    });
  }
  return list;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the processes the bench started\n`);
    void stopAll().finally(() => process.exit(130));
  });
}
process.once('exit', () => killAllNow());

main().then(
  (code) => {
    process.exitCode = interrupted ? 130 : code;
  },
  async (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await stopAll();
    process.exitCode = 1;
  },
);
