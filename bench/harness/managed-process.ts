import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

// Every long-lived process the bench starts goes through here, so each one is stopped by its
// own pid when the bench ends, fails or is interrupted — never by name.

export interface ManagedProcess {
  readonly label: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) when the process has exited. */
  readonly exited: Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ManagedProcess>();

export interface StartOptions {
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** stdout and stderr go here (appended). */
  readonly logFile: string;
}

export function startProcess(options: StartOptions): ManagedProcess {
  // The child writes its output straight to the file: piping it through the bench process
  // would bill the bench for a server's access log.
  const log = openSync(options.logFile, 'a');
  const child = spawn(options.command, options.args, {
    env: options.env ?? process.env,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`cannot start ${options.label} (${options.command})`);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(managed);
      resolve(signal ?? String(code));
    });
    child.once('error', (error) => {
      running.delete(managed);
      resolve(`error: ${error.message}`);
    });
  });
  const managed: ManagedProcess = {
    label: options.label,
    pid: child.pid,
    child,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(managed);
  return managed;
}

/**
 * Sends `signal` to `child` and waits for it to exit, killing it after `graceMs` if it has not
 * by then. At once when it has already exited.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

/** Stops every process still running that this bench started, one by one, by pid. */
export async function stopAll(): Promise<void> {
  for (const p of [...running].reverse()) await p.stop();
}

/** Last resort on exit: no graceful wait is possible, so kill what is left by pid. */
export function killAllNow(): void {
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
