import { spawn } from 'node:child_process';

// Runs a load generator (wrk, curl) under `sh`, which prints the CPU time its children used
// (the POSIX `times` builtin) after they exit. That is how each measurement knows what the
// client itself cost, on the machine the server shares with it.

export interface ClientRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
  /** CPU seconds (user + system) the client processes used. */
  readonly cpuSeconds: number;
  /** Wall seconds from spawn to exit. */
  readonly wallSeconds: number;
}

const TIMES_MARK = '__BENCH_TIMES__';

/**
 * `script` is a shell fragment that uses "$@" for its arguments; `cpus` pins it (and every child)
 * with taskset. Killed after `timeoutMs`.
 */
export function runClient(script: string, args: readonly string[], cpus: string | undefined, timeoutMs: number): Promise<ClientRun> {
  const body = `${script}\nstatus=$?\necho ${TIMES_MARK}\ntimes\nexit $status`;
  const command = cpus === undefined ? 'sh' : 'taskset';
  const argv = cpus === undefined ? ['-c', body, 'sh', ...args] : ['-c', cpus, 'sh', '-c', body, 'sh', ...args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const mark = stdout.lastIndexOf(TIMES_MARK);
      const own = mark >= 0 ? stdout.slice(0, mark) : stdout;
      // `times` prints two lines: the shell's own user/system, then its children's.
      const timesLines = mark >= 0 ? stdout.slice(mark + TIMES_MARK.length).trim().split('\n') : [];
      const childLine = timesLines[1] ?? '';
      let cpuSeconds = 0;
      for (const m of childLine.matchAll(/(\d+)m([\d.]+)s/g)) cpuSeconds += Number(m[1]) * 60 + Number(m[2]);
      resolve({ stdout: own, stderr, exitCode: code ?? -1, cpuSeconds, wallSeconds });
    });
  });
}
