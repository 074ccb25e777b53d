import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from '../../bench/harness/managed-process.js';
import { freePorts } from '../../bench/harness/net.js';
import { ensureRootSecretFile } from '../../src/config/secret.js';
import { adminToken } from '../../src/servers/reception/control-app.js';
import { processPlan, type ProcessSpec } from '../../src/topology/process-plan.js';
import { spawnProcess } from '../../src/topology/spawn-process.js';
import { publicPortOf, type Topology } from '../../src/topology/topology.js';
import { addContent, type AdminTarget } from '../../src/cli/admin-client.js';
import { waitHealthy } from '../../src/cli/commands/up.js';
import { waitFor } from './wait.js';

/** A bound, not an expectation: a process is healthy in about a second, but a starved CI machine can take far longer. */
const HEALTHY_WITHIN_MS = 60_000;

// A real topology for integration tests: a reception and content servers, each its own
// process started with `tessera serve`, on free loopback ports, with a temporary data dir.

export const CLI = join(process.cwd(), 'dist/src/cli/tessera.js');

// One port finder for the tests and the benches.
export { freePort } from '../../bench/harness/net.js';

export interface ClusterOptions {
  readonly servers?: number;
  /** Receptions (default 1); more than one share an nginx entry, which receptionUrl then is. */
  readonly receptions?: number;
  /** The receptions' database (default SQLite in the data directory). */
  readonly databaseUrl?: string;
  /** Shared state and the control channel on Redis for every process (default: none, the embedded HTTP control channel). */
  readonly redisUrl?: string;
  readonly capacity?: number;
  /** Extra environment for every process (e.g. TESSERA_TICKET_TTL_S). */
  readonly env?: NodeJS.ProcessEnv;
  /** Extra environment per content server, by index. */
  readonly serverEnv?: (index: number) => NodeJS.ProcessEnv;
}

export interface Cluster {
  readonly dataDir: string;
  readonly receptionUrl: string;
  readonly admin: AdminTarget;
  readonly topology: Topology;
  readonly processes: Map<string, ChildProcess>;
  readonly logs: Map<string, string[]>;
  addFile(path: string, title?: string): Promise<{ id: string; sha256: string; size: number; fileName: string }>;
  waitForServers(count: number, timeoutMs?: number): Promise<void>;
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed process again with the same settings and waits until it is healthy. */
  restart(name: string): Promise<void>;
  /**
   * Starts one more process with the settings of `like` plus `env` (e.g. a second process of a
   * content server ID on other ports), named `name`, and waits until `healthUrl` answers.
   */
  startLike(name: string, like: string, env: NodeJS.ProcessEnv, healthUrl: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-test-'));
  const count = options.servers ?? 3;
  const receptions = options.receptions ?? 1;
  // Every port at once, all held until each is found: no two processes get the same one.
  const ports = await freePorts(2 * receptions + (receptions > 1 ? 1 : 0) + 2 * count);
  const port = (): number => ports.pop() as number;
  const topology: Topology = {
    host: '127.0.0.1',
    receptions: Array.from({ length: receptions }, () => ({ publicPort: port(), controlPort: port() })),
    ...(receptions > 1 ? { entry: { publicPort: port(), balancer: 'nginx' as const } } : {}),
    ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
    ...(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl }),
    contentServers: Array.from({ length: count }, (_, i) => ({
      id: `cs-${i + 1}`,
      publicPort: port(),
      controlPort: port(),
      capacity: options.capacity ?? 4,
      area: 'local',
      cost: i + 1,
    })),
  };
  const secretFile = join(dataDir, 'secret.key');
  const root = ensureRootSecretFile(secretFile);
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, TESSERA_REPORT_INTERVAL_MS: '200', TESSERA_LOG_LEVEL: 'info', ...options.env };
  const plan = processPlan(topology, dataDir, secretFile, root, baseEnv);
  const processes = new Map<string, ChildProcess>();
  const logs = new Map<string, string[]>();
  const specs = new Map<string, ProcessSpec>();
  const start = (spec: ProcessSpec, extra: NodeJS.ProcessEnv): void => {
    const child = spawnProcess(spec, CLI, extra);
    const lines = logs.get(spec.name) ?? [];
    logs.set(spec.name, lines);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    processes.set(spec.name, child);
  };
  const contentSpecs = plan.filter((spec) => spec.role === 'content');
  const serverEnvOf = (spec: ProcessSpec): NodeJS.ProcessEnv => (spec.role === 'content' ? (options.serverEnv?.(contentSpecs.indexOf(spec)) ?? {}) : {});
  plan.forEach((spec) => {
    specs.set(spec.name, spec);
    start(spec, serverEnvOf(spec));
  });
  const admin: AdminTarget = { controlUrl: `http://127.0.0.1:${(topology.receptions[0] as { controlPort: number }).controlPort}`, token: adminToken(root) };
  const cluster: Cluster = {
    dataDir,
    receptionUrl: `http://127.0.0.1:${publicPortOf(topology)}`,
    admin,
    topology,
    processes,
    logs,
    async addFile(path, title) {
      const response = await addContent(admin, path, title);
      if (response.status !== 201) throw new Error(`add content failed: ${JSON.stringify(response.json)}`);
      return (response.json as { content: { id: string; sha256: string; size: number; fileName: string } }).content;
    },
    async waitForServers(n, timeoutMs = 15_000) {
      let live = 0;
      await waitFor(
        () => `${n} servers live (${live} are)`,
        async () => {
          const response = await fetch(`${admin.controlUrl}/admin/servers`, { headers: { authorization: `Bearer ${admin.token}` } });
          const { servers } = (await response.json()) as { servers: { live: boolean }[] };
          live = servers.filter((s) => s.live).length;
          return live >= n ? true : undefined;
        },
        timeoutMs,
      );
    },
    async kill(name, signal = 'SIGKILL') {
      const child = processes.get(name);
      if (child) await stopChild(child, signal);
    },
    async restart(name) {
      const spec = specs.get(name);
      if (!spec) throw new Error(`no process ${name}`);
      await cluster.kill(name);
      start(spec, serverEnvOf(spec));
      await waitHealthy(spec.healthUrl, HEALTHY_WITHIN_MS);
    },
    async startLike(name, like, env, healthUrl) {
      const spec = specs.get(like);
      if (!spec) throw new Error(`no process ${like}`);
      const twin: ProcessSpec = { ...spec, name, healthUrl, env: { ...spec.env, ...serverEnvOf(spec), ...env } };
      specs.set(name, twin);
      start(twin, {});
      await waitHealthy(healthUrl, HEALTHY_WITHIN_MS);
    },
    async stop() {
      await Promise.all([...processes.keys()].map((name) => cluster.kill(name, 'SIGTERM')));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(plan.map((spec) => waitHealthy(spec.healthUrl, HEALTHY_WITHIN_MS)));
    // A content server that found no reception at its start reports again one interval later.
    await cluster.waitForServers(count, Math.max(15_000, 2 * Number(options.env?.['TESSERA_REPORT_INTERVAL_MS'] ?? 0)));
  } catch (error) {
    const dump = [...logs.entries()].map(([n, l]) => `--- ${n}\n${l.slice(-20).join('\n')}`).join('\n');
    await cluster.stop();
    throw new Error(`${(error as Error).message}\n${dump}`);
  }
  return cluster;
}
