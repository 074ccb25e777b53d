import { readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { runHammerClient, runLineClient, type ClientContext } from './crowd-clients.js';
import { clientAddress, crowdPlan, type ClientRecord, type CrowdConfig, type CrowdItem, type CrowdResult } from './crowd-types.js';

// The load generator: `node crowd-process.js <config.json> <result.json>`. One process plays
// the whole crowd (Node holds thousands of idle long-polls easily); it runs apart from the
// runner so that the runner's sampling never delays a client's timestamps. Each client starts
// at its planned time from its own loopback address. Progress goes to stdout, the records to
// the result file.

async function main(argv: readonly string[]): Promise<number> {
  const [configFile, resultFile] = argv;
  if (configFile === undefined || resultFile === undefined) {
    process.stderr.write('usage: crowd-process <config.json> <result.json>\n');
    return 2;
  }
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as CrowdConfig;
  const plan = crowdPlan(config);
  const abort = new AbortController();
  const deadline = setTimeout(() => abort.abort(new Error('the run deadline passed')), Math.max(0, config.deadlineAt - Date.now()));
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  const records: ClientRecord[] = plan.map((p, index) => {
    const item = config.items[p.itemIndex] as CrowdItem;
    return {
      index,
      localAddress: clientAddress(index),
      itemIndex: p.itemIndex,
      size: item.size,
      plannedAt: config.startAt + p.offsetMs,
      arrivedAt: null,
      firstAnswerAt: null,
      requests: 0,
      statuses: {},
      answers: [],
      orderId: null,
      admittedAt: null,
      downloadStartAt: null,
      firstByteAt: null,
      downloadEndAt: null,
      bytes: 0,
      error: null,
    };
  });

  const startedAt = Date.now();
  const progress = setInterval(() => {
    const arrived = records.filter((r) => r.arrivedAt !== null).length;
    const admitted = records.filter((r) => r.admittedAt !== null).length;
    const done = records.filter((r) => r.downloadEndAt !== null).length;
    const failed = records.filter((r) => r.error !== null).length;
    process.stdout.write(`${config.mode}: ${Math.round((Date.now() - config.startAt) / 1000)} s arrived ${arrived} admitted ${admitted} downloaded ${done} failed ${failed}\n`);
  }, 5000);

  const runs = records.map(async (record) => {
    await sleep(Math.max(0, record.plannedAt - Date.now()));
    const ctx: ClientContext = { receptionUrl: config.receptionUrl, agent, downloadConnection: config.downloadConnection, item: config.items[record.itemIndex] as CrowdItem, signal: abort.signal };
    if (config.mode === 'line') await runLineClient(ctx, record, config.preferWaitS);
    else await runHammerClient(ctx, record, config.retryMs);
  });
  await Promise.all(runs);
  clearInterval(progress);
  clearTimeout(deadline);
  loop.disable();
  agent.destroy();

  const result: CrowdResult = {
    mode: config.mode,
    records,
    loopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    startedAt,
    endedAt: Date.now(),
  };
  writeFileSync(resultFile, JSON.stringify(result));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
