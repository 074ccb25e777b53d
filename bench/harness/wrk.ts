import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runClient } from './client-run.js';

// wrk drives the small-item runs. Every request takes the next path from a file, so each one can
// carry a fresh ticket (or a fresh secure_link, for nginx, to keep the client's work the same).
// Each wrk thread takes every n-th line, so no two threads ever use the same path.

export const WRK = '/usr/bin/wrk';

const PATHS_LUA = `-- wrk -s paths.lua URL -- <paths file> <threads>
local paths = {}
local counter = 0
local index = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local nthreads = tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then paths[#paths + 1] = line end
    i = i + 1
  end
end

function request()
  index = index + 1
  if index > #paths then index = 1 end
  return wrk.format(nil, paths[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"bytes":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

export function writeWrkScript(dir: string): string {
  const file = join(dir, 'paths.lua');
  writeFileSync(file, PATHS_LUA);
  return file;
}

export interface WrkOptions {
  readonly script: string;
  readonly baseUrl: string;
  readonly pathsFile: string;
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
  readonly cpus: string | undefined;
}

export interface WrkResult {
  readonly requests: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Socket errors plus non-2xx/3xx answers. */
  readonly errors: number;
  /** The same, by kind, e.g. "status 12, read 3". */
  readonly errorKinds: string;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly clientCpuSeconds: number;
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    '-t', String(options.threads),
    '-c', String(options.connections),
    '-d', `${options.seconds}s`,
    '--timeout', '10s',
    '-s', options.script,
    options.baseUrl,
    '--', options.pathsFile, String(options.threads),
  ];
  const run = await runClient(`${WRK} "$@"`, args, options.cpus, (options.seconds + 30) * 1000);
  const line = run.stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (run.exitCode !== 0 || !line) {
    throw new Error(`wrk failed (exit ${run.exitCode}): ${run.stderr.trim() || run.stdout.trim()}`);
  }
  const r = JSON.parse(line.slice('WRK_JSON '.length)) as Record<string, number>;
  const n = (key: string): number => r[key] ?? 0;
  const seconds = n('durationUs') / 1e6;
  return {
    requests: n('requests'),
    bytes: n('bytes'),
    seconds,
    requestsPerSecond: seconds > 0 ? n('requests') / seconds : 0,
    errors: n('connect') + n('read') + n('write') + n('status') + n('timeout'),
    errorKinds: ['connect', 'read', 'write', 'status', 'timeout'].filter((k) => n(k) > 0).map((k) => `${k} ${n(k)}`).join(', '),
    p50Ms: n('p50Us') / 1000,
    p99Ms: n('p99Us') / 1000,
    clientCpuSeconds: run.cpuSeconds,
  };
}
