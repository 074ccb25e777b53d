import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureRootSecretFile } from '../../config/secret.js';
import { adminToken } from '../../servers/reception/control-app.js';
import { processPlan, type ProcessSpec } from '../../topology/process-plan.js';
import { spawnProcess } from '../../topology/spawn-process.js';
import { loadTopology, publicPortOf, type Topology } from '../../topology/topology.js';
import { writeSamples } from '../../topology/samples.js';
import { addContent, describeFailure } from '../admin-client.js';

const HELP = `usage: tessera up [--topology FILE] [--data DIR] [--logs] [--no-samples]

Starts a whole Tessera topology on this machine, each server a separate process:
by default a reception on http://localhost:8080 (control 127.0.0.1:9100) and three content
servers on 8081-8083 (control 9101-9103), a SQLite database and a store per content server
under DIR (default ./data). A topology file can list several receptions behind an nginx
entry (docs/operations.md; examples in examples/topologies/). Server logs go to DIR/logs/ (--logs streams them here too).
The first start adds a few sample items. Ctrl-C stops everything.
`;

const CLI = fileURLToPath(new URL('../tessera.js', import.meta.url));

interface Child extends ProcessSpec {
  process?: ChildProcess;
  restarts: number;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      topology: { type: 'string' },
      data: { type: 'string' },
      logs: { type: 'boolean' },
      'no-samples': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return (process.stdout.write(HELP), 0);
  const topology = loadTopology(values.topology);
  const dataDir = resolve(values.data ?? process.env['TESSERA_DATA_DIR'] ?? './data');
  mkdirSync(join(dataDir, 'logs'), { recursive: true });
  const secretFile = join(dataDir, 'secret.key');
  const root = ensureRootSecretFile(secretFile);
  const children: Child[] = processPlan(topology, dataDir, secretFile, root, process.env).map((spec) => ({ ...spec, restarts: 0 }));

  let stopping = false;
  const logs = new Map<string, WriteStream>();
  const startChild = (child: Child): void => {
    let log = logs.get(child.name);
    if (!log) {
      log = createWriteStream(join(dataDir, 'logs', `${child.name}.log`), { flags: 'a' });
      logs.set(child.name, log);
    }
    const proc = spawnProcess(child, CLI);
    child.process = proc;
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream === null) continue;
      stream.pipe(log, { end: false });
      if (values.logs) stream.pipe(process.stdout, { end: false });
    }
    proc.once('exit', (code, signal) => {
      if (stopping) return;
      child.restarts++;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(child.restarts, 5));
      process.stderr.write(`tessera up: ${child.name} exited (${signal ?? code}); restarting in ${delay} ms (see ${join(dataDir, 'logs', child.name + '.log')})\n`);
      setTimeout(() => startChild(child), delay).unref();
    });
  };

  const stopAll = async (): Promise<void> => {
    stopping = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((done) => {
            const p = c.process;
            if (!p || p.exitCode !== null || p.signalCode !== null) return done();
            const force = setTimeout(() => p.kill('SIGKILL'), 5000);
            p.once('exit', () => {
              clearTimeout(force);
              done();
            });
            p.kill('SIGTERM');
          }),
      ),
    );
    for (const log of logs.values()) log.end();
  };

  const interrupted = new Promise<void>((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
  });

  for (const child of children) startChild(child);
  try {
    await Promise.all(children.map((c) => waitHealthy(c.healthUrl, 30_000)));
  } catch (error) {
    process.stderr.write(`tessera up: ${(error as Error).message}; see ${join(dataDir, 'logs')}\n`);
    await stopAll();
    return 1;
  }

  const receptionUrl = `http://localhost:${publicPortOf(topology)}`;
  if (!values['no-samples']) await addSamplesIfEmpty(topology, dataDir, root, receptionUrl);

  process.stdout.write(
    [
      '',
      `Tessera is up.`,
      `  catalogue (browser):  ${receptionUrl}/`,
      `  API:                  ${receptionUrl}/contents, POST ${receptionUrl}/orders  (OpenAPI: ${receptionUrl}/openapi.json)`,
      ...(topology.entry
        ? topology.receptions.map((r, i) => `  reception ${String(i + 1).padEnd(11)} http://${topology.host}:${r.publicPort}  (control ${r.controlPort}), behind the nginx entry on ${topology.entry?.publicPort}`)
        : []),
      ...topology.contentServers.map((s) => `  content server ${s.id.padEnd(6)} http://${topology.host}:${s.publicPort}  (${s.capacity} slots)`),
      `  data and logs:        ${dataDir}`,
      `  servers' status:      http://${topology.host}:${(topology.receptions[0] as { controlPort: number }).controlPort}/status  (operators; or npx tessera status)`,
      '',
      `Try:  npx tessera content list   then   npx tessera get <content id>`,
      `      npx tessera drain <server>  to take a content server out gently (npx tessera undrain <server> to bring it back)`,
      `Stop with Ctrl-C.`,
      '',
    ].join('\n'),
  );
  await interrupted;
  process.stdout.write('tessera up: stopping\n');
  await stopAll();
  return 0;
}

export async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become healthy within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function addSamplesIfEmpty(topology: Topology, dataDir: string, root: Buffer, receptionUrl: string): Promise<void> {
  const listing = (await (await fetch(`${receptionUrl}/contents`)).json()) as { items: unknown[] };
  if (listing.items.length > 0) return;
  // Wait until every content server has reported, so the samples land on all of them.
  const target = { controlUrl: `http://${topology.host}:${(topology.receptions[0] as { controlPort: number }).controlPort}`, token: adminToken(root) };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${target.controlUrl}/admin/servers`, { headers: { authorization: `Bearer ${target.token}` } });
    const { servers } = (await response.json()) as { servers: { live: boolean }[] };
    if (servers.filter((s) => s.live).length >= topology.contentServers.length) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const sample of writeSamples(join(dataDir, 'samples'))) {
    const response = await addContent(target, sample.path, sample.title);
    if (response.status !== 201) process.stderr.write(`tessera up: could not add sample ${sample.path}: ${describeFailure(response)}\n`);
  }
}
