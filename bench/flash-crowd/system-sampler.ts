import Database from 'better-sqlite3';
import { controlToken } from '../../src/core/ticket/ticket-keys.js';
import { clockTicksPerSecond, processTicks, readCpuTicks } from '../harness/proc-stat.js';
import { httpCall } from '../harness/net.js';

// Watches a running topology while the crowd is in it, from the outside and read-only:
//
// - every `intervalMs`, each content server's own slot table (GET /control/state with its
//   control token: which tickets hold a slot and which of them are sending right now);
// - on the same tick, the reception's database (read-only; WAL lets a reader run beside the
//   writer): the line's length as the reception counts it (queued, return time not passed), and
//   every order in state `ticketed` with its updated_at, which at that moment is the time of the
//   ticketed transition, i.e. the admission (a later completion overwrites it, but an order stays
//   ticketed for at least its transfer time, several ticks). Not the reception's /metrics: its
//   process metrics (open files, handles, memory) cost it a few per cent of a core at 10 Hz.
// - every second, the CPU used by each process of the topology and by the machine.

export interface SlotSample {
  readonly at: number;
  readonly capacity: number;
  /** Slots held by a notice or in use. */
  readonly taken: number;
  /** Slots whose ticket has a transfer sending right now. */
  readonly active: number;
  readonly held: number;
  readonly idle: number;
  /** The line's length, or null when the database was busy. */
  readonly line: number | null;
}

export interface CpuSample {
  readonly at: number;
  /** Cores used over the last interval, by process name. */
  readonly cores: Readonly<Record<string, number>>;
  /** Share of the whole machine busy over the last interval, 0..1. */
  readonly machineBusy: number;
  /** Busy cores of the whole machine, every process and the kernel. */
  readonly machineBusyCores: number;
}

export interface Admission {
  readonly orderId: string;
  readonly queueSeq: number | null;
  /** The reception's time of the ticketed transition. */
  readonly at: number;
}

export interface SampledServer {
  readonly serverId: string;
  readonly controlUrl: string;
}

export interface SamplerTargets {
  readonly rootSecret: Buffer;
  readonly servers: readonly SampledServer[];
  readonly databaseFile: string;
  /** Process name → pid, for the CPU bill. */
  readonly pids: ReadonlyMap<string, number>;
}

interface StateTicket {
  readonly slot?: string;
}

interface StateSnapshot {
  readonly capacity?: number;
  readonly tickets?: readonly StateTicket[];
}

export class SystemSampler {
  readonly slots: SlotSample[] = [];
  readonly cpu: CpuSample[] = [];
  readonly admissions = new Map<string, Admission>();
  /** Ticks skipped because the previous one was still running. */
  skipped = 0;
  readonly #targets: SamplerTargets;
  readonly #db: Database.Database;
  readonly #ticketed: Database.Statement;
  readonly #lineLength: Database.Statement;
  readonly #tokens: Map<string, string>;
  #slotTimer: NodeJS.Timeout | undefined;
  #cpuTimer: NodeJS.Timeout | undefined;
  #busy = false;
  #lastCpu: { at: number; procs: Map<string, number>; machine: { busy: number; total: number } } | undefined;

  constructor(targets: SamplerTargets) {
    this.#targets = targets;
    this.#db = new Database(targets.databaseFile, { readonly: true, fileMustExist: true });
    this.#db.pragma('busy_timeout = 1000');
    this.#ticketed = this.#db.prepare("SELECT id, queue_seq, updated_at FROM orders WHERE state = 'ticketed'");
    this.#lineLength = this.#db.prepare("SELECT COUNT(*) AS n FROM orders WHERE state = 'queued' AND queue_return_by >= ?");
    this.#tokens = new Map(targets.servers.map((s) => [s.serverId, controlToken(targets.rootSecret, s.serverId)]));
  }

  start(intervalMs: number): void {
    this.#slotTimer = setInterval(() => {
      if (this.#busy) {
        this.skipped++;
        return;
      }
      this.#busy = true;
      this.#tick().finally(() => {
        this.#busy = false;
      });
    }, intervalMs);
    this.#cpuTimer = setInterval(() => this.#cpuTick(), 1000);
    this.#cpuTick();
  }

  async stop(): Promise<void> {
    clearInterval(this.#slotTimer);
    clearInterval(this.#cpuTimer);
    while (this.#busy) await new Promise((r) => setTimeout(r, 20));
    this.#watchDatabase();
    this.#db.close();
  }

  async #tick(): Promise<void> {
    const at = Date.now();
    this.#watchDatabase();
    const line = this.#line(at);
    const states = await Promise.all(this.#targets.servers.map((s) => this.#state(s)));
    if (states.some((s) => s === undefined)) return;
    let capacity = 0;
    let taken = 0;
    let active = 0;
    let held = 0;
    let idle = 0;
    for (const state of states as StateSnapshot[]) {
      capacity += state.capacity ?? 0;
      for (const ticket of state.tickets ?? []) {
        if (ticket.slot === 'released' || ticket.slot === undefined) continue;
        taken++;
        if (ticket.slot === 'active') active++;
        else if (ticket.slot === 'held') held++;
        else if (ticket.slot === 'idle') idle++;
      }
    }
    this.slots.push({ at, capacity, taken, active, held, idle, line });
  }

  #watchDatabase(): void {
    try {
      for (const row of this.#ticketed.all() as { id: string; queue_seq: number | null; updated_at: number }[]) {
        if (!this.admissions.has(row.id)) this.admissions.set(row.id, { orderId: row.id, queueSeq: row.queue_seq, at: row.updated_at });
      }
    } catch {
      // The writer held the database past the busy timeout: the next tick looks again.
    }
  }

  async #state(server: SampledServer): Promise<StateSnapshot | undefined> {
    try {
      const response = await httpCall(`${server.controlUrl}/control/state`, {
        headers: { authorization: `Bearer ${this.#tokens.get(server.serverId) ?? ''}` },
        timeoutMs: 2000,
      });
      return response.status === 200 ? (JSON.parse(response.body.toString('utf8')) as StateSnapshot) : undefined;
    } catch {
      return undefined;
    }
  }

  #line(at: number): number | null {
    try {
      return (this.#lineLength.get(at) as { n: number }).n;
    } catch {
      return null;
    }
  }

  #cpuTick(): void {
    const at = Date.now();
    const procs = new Map([...this.#targets.pids].map(([name, pid]) => [name, processTicks(pid)]));
    procs.set('runner', processTicks(process.pid));
    const machine = readCpuTicks();
    const last = this.#lastCpu;
    this.#lastCpu = { at, procs, machine };
    if (!last) return;
    const seconds = (at - last.at) / 1000;
    const hz = clockTicksPerSecond();
    const cores: Record<string, number> = {};
    for (const [name, ticks] of procs) cores[name] = Math.max(0, ticks - (last.procs.get(name) ?? ticks)) / hz / seconds;
    const total = machine.total - last.machine.total;
    this.cpu.push({
      at,
      cores,
      machineBusy: total > 0 ? (machine.busy - last.machine.busy) / total : 0,
      machineBusyCores: (machine.busy - last.machine.busy) / hz / seconds,
    });
  }
}
