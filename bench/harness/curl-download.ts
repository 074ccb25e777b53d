import { runClient } from './client-run.js';

// curl drives the large-file runs: it reads in 100 KiB blocks and writes to /dev/null, which
// makes it a cheaper receiver than wrk (8 KiB reads) on a machine where client and server
// share two cores. Parallel downloads are separate curl processes started together.

export const CURL = '/usr/bin/curl';

export interface DownloadResult {
  readonly bytes: number;
  readonly seconds: number;
  readonly bytesPerSecond: number;
  /** Downloads that did not answer 200 with the full size. */
  readonly errors: number;
  readonly clientCpuSeconds: number;
}

// Prints "<status> <bytes> <seconds>" per download; waits for all.
const PARALLEL = 'for u in "$@"; do curl -s -o /dev/null -w "%{http_code} %{size_download} %{time_total}\\n" "$u" & done; wait';

/**
 * Downloads every URL at once. Throughput is all bytes over the wall time of the batch; for a
 * single download, over curl's own transfer time, so process start-up is not counted.
 */
export async function downloadAll(urls: readonly string[], expectedSize: number, cpus: string | undefined): Promise<DownloadResult> {
  const run = await runClient(PARALLEL, urls, cpus, 300_000);
  let bytes = 0;
  let errors = 0;
  let curlSeconds = 0;
  const lines = run.stdout.trim().split('\n').filter((l) => l.length > 0);
  for (const line of lines) {
    const [status, size, time] = line.split(' ');
    curlSeconds = Math.max(curlSeconds, Number(time) || 0);
    const n = Number(size);
    bytes += Number.isFinite(n) ? n : 0;
    if (status !== '200' || n !== expectedSize) errors++;
  }
  errors += Math.max(0, urls.length - lines.length);
  const seconds = urls.length === 1 && curlSeconds > 0 ? curlSeconds : run.wallSeconds;
  return {
    bytes,
    seconds,
    bytesPerSecond: bytes / seconds,
    errors,
    clientCpuSeconds: run.cpuSeconds,
  };
}
