import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

// CPU accounting from /proc, so each measurement can say who used the CPU: the server under
// test, the load generator, the bench process itself, and everything else (kernel softirq work
// for loopback TCP, and whatever else runs on the machine). Linux only, like the bench.

let ticksPerSecond: number | undefined;

/** USER_HZ: the unit of every tick count in /proc. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface CpuTicks {
  /** Busy ticks summed over every CPU (user, nice, system, irq, softirq). */
  readonly busy: number;
  /** All ticks summed over every CPU, steal excluded. */
  readonly total: number;
  /** Busy ticks per CPU, by index. */
  readonly perCpuBusy: readonly number[];
  /** Ticks the hypervisor gave another guest while this one had work (a VM's CPUs are shared). */
  readonly steal: number;
}

export function readCpuTicks(): CpuTicks {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  let busy = 0;
  let total = 0;
  let steal = 0;
  const perCpuBusy: number[] = [];
  for (const line of lines) {
    const match = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, stolen = 0] = (match[2] ?? '').split(/\s+/).map(Number);
    const b = user + nice + system + irq + softirq;
    steal += stolen;
    busy += b;
    total += b + idle + iowait;
    perCpuBusy[Number(match[1])] = b;
  }
  return { busy, total, perCpuBusy, steal };
}

/** utime + stime of one process (all its threads), in ticks; 0 when it is gone. */
export function processTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: count fields after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly ticks: number;
}

function allProcesses(): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    entries.push({ pid: Number(name), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
  }
  return entries;
}

function childrenMap(entries: readonly ProcEntry[]): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const e of entries) {
    const list = children.get(e.ppid);
    if (list) list.push(e.pid);
    else children.set(e.ppid, [e.pid]);
  }
  return children;
}

/**
 * CPU ticks of every user-space process that is not `root` or one of its descendants: the
 * load other people put on the machine while the bench runs. Kernel threads (children of
 * kthreadd, pid 2) are left out: their work, such as softirq for loopback TCP, is part of the
 * measurement. A process that exits between two readings drops out, so this errs low.
 */
export function foreignTicks(root: number): Map<number, number> {
  const entries = allProcesses();
  const ours = new Set(descendants(childrenMap(entries), root));
  const ticks = new Map<number, number>();
  for (const e of entries) {
    if (ours.has(e.pid) || e.pid === 2 || e.ppid === 2) continue;
    ticks.set(e.pid, e.ticks);
  }
  return ticks;
}

/** Ticks used between two foreignTicks readings (processes new in `after` count from zero). */
export function foreignDelta(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let sum = 0;
  for (const [pid, t] of after) sum += Math.max(0, t - (before.get(pid) ?? 0));
  return sum;
}

function descendants(children: ReadonlyMap<number, readonly number[]>, root: number): number[] {
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0 && tree.length < 1000) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** The process and all its descendants (nginx master and workers, for instance). */
export function processTree(root: number): number[] {
  return descendants(childrenMap(allProcesses()), root);
}

export function treeTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += processTicks(pid);
  return sum;
}

/** Sets the CPU affinity of every thread of every process given; `cpus` like "0" or "0-1". */
export function setAffinity(pids: readonly number[], cpus: string): void {
  for (const pid of pids) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    } catch {
      // The process may have exited between listing and pinning; nothing to pin then.
    }
  }
}

/** Scheduler accounting of one thread: time on a CPU, time runnable but waiting for one, and its switches. */
export interface SchedStat {
  /** Nanoseconds spent running on a CPU. */
  readonly onCpuNs: number;
  /** Nanoseconds spent runnable on a run queue, waiting for a CPU. */
  readonly waitingNs: number;
  /** Times it gave up the CPU itself (blocked: nothing to do) and was made to (preempted). */
  readonly voluntarySwitches: number;
  readonly involuntarySwitches: number;
}

/**
 * A process's main thread (the one running JavaScript in Node) from /proc/PID/task/PID:
 * `schedstat` (on-CPU and run-queue wait, ns; needs schedstats in the kernel, present on
 * Debian's) and `status` (context switches). Undefined when the process is gone.
 */
export function mainThreadSchedStat(pid: number): SchedStat | undefined {
  try {
    const [onCpu = 0, waiting = 0] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(status)?.[1] ?? 0);
    return { onCpuNs: onCpu, waitingNs: waiting, voluntarySwitches: field('voluntary_ctxt_switches'), involuntarySwitches: field('nonvoluntary_ctxt_switches') };
  } catch {
    return undefined;
  }
}

/** What a thread did between two readings. */
export function schedDelta(before: SchedStat, after: SchedStat): SchedStat {
  return {
    onCpuNs: after.onCpuNs - before.onCpuNs,
    waitingNs: after.waitingNs - before.waitingNs,
    voluntarySwitches: after.voluntarySwitches - before.voluntarySwitches,
    involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
  };
}
