import { clockTicksPerSecond, foreignDelta, foreignTicks, processTree, readCpuTicks, treeTicks } from './proc-stat.js';
import { sleep } from './net.js';

// One timed run with its CPU bill: how many cores the server, the client, the bench process
// (which plays the reception), other people's processes, and the kernel (mostly softirq work
// for loopback TCP that no process is charged for) used on average while it ran.

export interface CpuBill {
  readonly serverCores: number;
  readonly clientCores: number;
  readonly benchCores: number;
  /** Busy time no process was charged for: mostly the kernel's network work. */
  readonly otherCores: number;
  /** User-space processes that are not the bench's: other people's load on the machine. */
  readonly foreignCores: number;
  /** Busy fraction of each CPU (0..1), by index: in pinned runs, CPU 0 is the server's. */
  readonly perCpuBusy: readonly number[];
}

export interface ClientOutcome {
  readonly clientCpuSeconds: number;
}

export async function withCpuBill<T extends ClientOutcome>(serverRoots: readonly number[], run: () => Promise<T>): Promise<{ result: T; bill: CpuBill }> {
  const pids = serverRoots.flatMap((pid) => processTree(pid));
  const hz = clockTicksPerSecond();
  const cpuBefore = readCpuTicks();
  const serverBefore = treeTicks(pids);
  const foreignBefore = foreignTicks(process.pid);
  const selfBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = await run();
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const self = process.cpuUsage(selfBefore);
  const foreignCores = foreignDelta(foreignBefore, foreignTicks(process.pid)) / hz / wall;
  const serverCores = (treeTicks(pids) - serverBefore) / hz / wall;
  const cpuAfter = readCpuTicks();
  const totalCores = (cpuAfter.busy - cpuBefore.busy) / hz / wall;
  const perCpuBusy = cpuAfter.perCpuBusy.map((busy, i) => Math.min(1, (busy - (cpuBefore.perCpuBusy[i] ?? 0)) / hz / wall));
  const clientCores = result.clientCpuSeconds / wall;
  const benchCores = (self.user + self.system) / 1e6 / wall;
  return {
    result,
    bill: { serverCores, clientCores, benchCores, otherCores: Math.max(0, totalCores - serverCores - clientCores - benchCores - foreignCores), foreignCores, perCpuBusy },
  };
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet — less than `maxBusyCores` busy over
 * a quarter of a second — so one engineer's compile does not land in the middle of a run. Returns the
 * busy cores seen last, for the record.
 */
export async function waitForQuiet(maxBusyCores: number, maxWaitMs: number): Promise<number> {
  const hz = clockTicksPerSecond();
  const until = Date.now() + maxWaitMs;
  let busy = 0;
  do {
    const before = readCpuTicks().busy;
    await sleep(250);
    busy = (readCpuTicks().busy - before) / hz / 0.25;
    if (busy <= maxBusyCores) return busy;
  } while (Date.now() < until);
  return busy;
}
