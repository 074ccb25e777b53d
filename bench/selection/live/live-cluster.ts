import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureRootSecretFile } from '../../../src/config/secret.js';
import type { PolicyName } from '../../../src/core/selection/policy-name.js';
import { adminToken } from '../../../src/servers/reception/control-app.js';
import { processPlan, type ProcessSpec } from '../../../src/topology/process-plan.js';
import { spawnProcess } from '../../../src/topology/spawn-process.js';
import type { Topology } from '../../../src/topology/topology.js';
import { CLI } from '../../../test/support/cluster.js';
import { freePorts } from '../../harness/net.js';
import { stopChild } from '../../harness/managed-process.js';
import type { ServerSpec } from '../sim/scenario.js';
import { costOf, type ReportMode } from './live-scenario.js';
import { waitHealthy } from '../../../src/cli/commands/up.js';

// The live harness's processes, with the machinery `tessera up` and the tests use
// (src/topology: processPlan, spawnProcess, the nginx entry): four receptions' worth of ports,
// content servers that each sit behind the uplink shaper (their TESSERA_PUBLIC_URL points at
// it, so ticket URLs do too), one data directory and SQLite database for the whole run. A
// "setup" (receptions × report interval × DNS or not) restarts the content servers; a policy
// restarts only the receptions, with TESSERA_SELECTION_POLICY set.

export interface SetupOptions {
  readonly receptions: 1 | 4;
  readonly reportIntervalMs: number;
  /** Plain web servers for the DNS baseline: no slot limit to speak of, no per-transfer throttle. */
  readonly dns: boolean;
}

export interface LiveCluster {
  readonly dataDir: string;
  readonly admin: { readonly controlUrl: string; readonly token: string };
  /** Shaper port of each content server, by server ID. */
  readonly shapedPorts: ReadonlyMap<string, number>;
  readonly shaperLinks: readonly { listenPort: number; targetPort: number; uplinkBps: number }[];
  /** Where clients order: the reception, or the nginx entry in front of four. */
  receptionUrl(): string;
  /** Every running reception's public URL (for /metrics). */
  receptionPublicUrls(): string[];
  receptionControlUrls(): string[];
  startSetup(setup: SetupOptions): Promise<void>;
  startReceptions(policy: PolicyName): Promise<void>;
  stopReceptions(): Promise<void>;
  stopSetup(): Promise<void>;
  /** Waits until every running reception sees every content server live with no slot taken. */
  waitIdle(timeoutMs: number): Promise<boolean>;
  logsOf(name: string): string[];
  stop(): Promise<void>;
}

const DNS_CAPACITY = 100_000;


export async function startLiveCluster(fleet: readonly ServerSpec[], reports: ReportMode): Promise<LiveCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-selection-live-'));
  const secretFile = join(dataDir, 'secret.key');
  const root = ensureRootSecretFile(secretFile);
  // Every port at once, held open until all are found: two listeners never get the same one.
  const ports = await freePorts(4 * 2 + 1 + fleet.length * 3);
  const next = (): number => ports.shift() as number;
  const receptionPorts = Array.from({ length: 4 }, () => ({ publicPort: next(), controlPort: next() }));
  const entryPort = next();
  const servers = fleet.map((s) => ({ spec: s, publicPort: next(), controlPort: next(), shapedPort: next() }));
  const topology = (receptions: 1 | 4, capacityOf: (s: ServerSpec) => number): Topology => ({
    host: '127.0.0.1',
    receptions: receptionPorts.slice(0, receptions),
    ...(receptions > 1 ? { entry: { publicPort: entryPort, balancer: 'nginx' as const } } : {}),
    contentServers: servers.map((s) => ({
      id: s.spec.id,
      publicPort: s.publicPort,
      controlPort: s.controlPort,
      capacity: capacityOf(s.spec),
      area: s.spec.area,
      cost: costOf(s.spec),
    })),
  });
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TESSERA_LOG_LEVEL: 'warn',
    // Every client is 127.0.0.1: the per-address limit would throttle the whole crowd as one.
    TESSERA_ORDER_RATE_PER_S: '1000000',
    TESSERA_ORDER_BURST: '1000000',
    // No waiting line: a busy reception answers 503 with Retry-After and the client comes back,
    // as the simulator's clients do. With several receptions on one line, two receptions'
    // admission passes can admit the same order and the loser answers 500 "order changed state
    // while a ticket was being issued" to the client waiting on it (found with this harness);
    // without a line, one and four receptions are measured alike.
    TESSERA_QUEUE_MAX: '0',
  };
  const shaperLinks = servers.map((s) => ({ listenPort: s.shapedPort, targetPort: s.publicPort, uplinkBps: s.spec.uplinkBps }));
  const shaper = spawn(process.execPath, [join(process.cwd(), 'dist/bench/selection/live/uplink-shaper-main.js'), JSON.stringify(shaperLinks)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    shaper.once('exit', (code) => reject(new Error(`uplink shaper exited (${code})`)));
    shaper.stdout?.setEncoding('utf8').once('data', () => resolve());
  });

  const logs = new Map<string, string[]>();
  let plan: ProcessSpec[] = [];
  let setup: SetupOptions | undefined;
  const contentProcs = new Map<string, ChildProcess>();
  const receptionProcs = new Map<string, ChildProcess>();
  let entryProc: ChildProcess | undefined;
  const start = (spec: ProcessSpec, extra: NodeJS.ProcessEnv): ChildProcess => {
    const child = spawnProcess(spec, CLI, extra);
    const lines = logs.get(spec.name) ?? [];
    logs.set(spec.name, lines);
    const keep = (d: string): void => {
      lines.push(...d.split('\n').filter(Boolean));
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    return child;
  };
  const running = (): ProcessSpec[] => plan.filter((p) => p.role === 'reception' && receptionProcs.has(p.name));
  const admin = { controlUrl: `http://127.0.0.1:${(receptionPorts[0] as { controlPort: number }).controlPort}`, token: adminToken(root) };

  const cluster: LiveCluster = {
    dataDir,
    admin,
    shapedPorts: new Map(servers.map((s) => [s.spec.id, s.shapedPort])),
    shaperLinks,
    receptionUrl() {
      const p = setup?.receptions === 4 ? entryPort : (receptionPorts[0] as { publicPort: number }).publicPort;
      return `http://127.0.0.1:${p}`;
    },
    receptionPublicUrls() {
      return running().map((p) => (p.healthUrl ?? '').replace(/\/healthz$/, ''));
    },
    receptionControlUrls() {
      return receptionPorts.slice(0, setup?.receptions ?? 1).map((r) => `http://127.0.0.1:${r.controlPort}`);
    },
    async startSetup(options) {
      setup = options;
      plan = processPlan(
        topology(options.receptions, (s) => (options.dns ? DNS_CAPACITY : s.slots)),
        dataDir,
        secretFile,
        root,
        baseEnv,
      );
      for (const spec of plan.filter((p) => p.role === 'content')) {
        const s = servers.find((x) => x.spec.id === spec.name);
        if (!s) throw new Error(`no server ${spec.name}`);
        contentProcs.set(
          spec.name,
          start(spec, {
            TESSERA_REPORT_INTERVAL_MS: String(options.reportIntervalMs),
            TESSERA_REPORT_ON_CHANGE: String(reports === 'on-change'),
            TESSERA_TRANSFER_RATE_BPS: options.dns ? '0' : String(Math.round(s.spec.perTransferBps)),
            TESSERA_PUBLIC_URL: `http://127.0.0.1:${s.shapedPort}`,
          }),
        );
      }
      const entry = plan.find((p) => p.role === 'entry');
      if (entry) entryProc = start(entry, {});
      // The entry's /healthz goes through to a reception: it is waited for with the receptions.
      await Promise.all(plan.filter((p) => p.role === 'content').map((p) => waitHealthy(p.healthUrl, 45_000)));
    },
    async startReceptions(policy) {
      for (const spec of plan.filter((p) => p.role === 'reception')) receptionProcs.set(spec.name, start(spec, { TESSERA_SELECTION_POLICY: policy }));
      await Promise.all([...running(), ...plan.filter((p) => p.role === 'entry')].map((p) => waitHealthy(p.healthUrl, 45_000)));
      // Every reception must see every server before the clients come (a 5 s interval: up to 5 s).
      const deadline = Date.now() + 20_000;
      for (const url of cluster.receptionControlUrls()) {
        for (;;) {
          const live = await liveServers(url, admin.token).catch(() => 0);
          if (live >= fleet.length) break;
          if (Date.now() > deadline) throw new Error(`${url} sees ${live} of ${fleet.length} servers`);
          await sleep(100);
        }
      }
    },
    async stopReceptions() {
      await Promise.all([...receptionProcs.values()].map((child) => stopChild(child)));
      receptionProcs.clear();
    },
    async stopSetup() {
      await cluster.stopReceptions();
      await Promise.all([...contentProcs.values()].map((child) => stopChild(child)));
      contentProcs.clear();
      if (entryProc) await stopChild(entryProc);
      entryProc = undefined;
    },
    async waitIdle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const views = await Promise.all(cluster.receptionControlUrls().map((u) => serverViews(u, admin.token).catch(() => [])));
        if (views.every((v) => v.length >= fleet.length && v.every((s) => s.live && s.slotsTaken === 0))) return true;
        if (Date.now() > deadline) return false;
        await sleep(200);
      }
    },
    logsOf(name) {
      return logs.get(name) ?? [];
    },
    async stop() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await cluster.stopSetup();
      await stopChild(shaper);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  // A long run stopped by Ctrl-C or SIGTERM takes its receptions, content servers, shaper and
  // nginx down with it instead of leaving them running.
  function onSignal(signal: NodeJS.Signals): void {
    process.stderr.write(`\n${signal}: stopping the cluster\n`);
    void cluster.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  }
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return cluster;
}

interface ServerView {
  readonly live: boolean;
  readonly slotsTaken: number;
}

async function serverViews(controlUrl: string, token: string): Promise<ServerView[]> {
  const response = await fetch(`${controlUrl}/admin/servers`, { headers: { authorization: `Bearer ${token}` } });
  return ((await response.json()) as { servers: ServerView[] }).servers;
}

async function liveServers(controlUrl: string, token: string): Promise<number> {
  return (await serverViews(controlUrl, token)).filter((s) => s.live).length;
}
