import type { Candidate } from '../../../src/core/selection/candidate.js';
import { createPolicy } from '../../../src/core/selection/create-policy.js';
import type { PolicyName } from '../../../src/core/selection/policy-name.js';
import { seededRandom } from '../../../src/core/selection/seeded-random.js';
import type { SelectionPolicy } from '../../../src/core/selection/selection-policy.js';
import { makeClients, type ClientSpec } from './clients.js';
import { deriveSeed } from './derive-seed.js';
import { EventQueue } from './event-queue.js';
import { maxMinShare } from './max-min-share.js';
import { quantile } from './quantile.js';
import { staleAfterS, type Scenario, type ServerSpec } from './scenario.js';

// One run: receptions choosing with one policy, content servers holding slots from the notice
// to the last byte and sharing their uplink among their transfers, clients ordering, retrying
// when every server refused, and downloading. Time is simulated seconds; chance comes from the
// seed only, so the same seed gives the same numbers.
//
// What is modelled, as in Tessera:
// - The notice is the allocation: a content server takes it only with a free slot, whatever
//   the reception believed (src/servers/content: SlotTable.offerNotice).
// - A reception's view of a server is its last report plus its own notices since and its own
//   completions since, and "full" after a refusal until the next report
//   (src/servers/reception/server-registry.ts); other receptions' work shows only in reports.
// - The reception tries the policy's servers in order; when all refuse, the client is told to
//   come back (a refusal) and does, after a delay, through any reception.

export interface ServerFigures {
  readonly id: string;
  /** Mean share of slots taken over the measured window. */
  readonly utilisation: number;
  /** Orders served. */
  readonly served: number;
}

/**
 * The policies, and `dns`: what DNS round robin in front of plain web servers does, the
 * baseline the goal names. Each client gets the next server round the ring, and that
 * server serves it whatever its load: a plain web server has no slots, no admission check and
 * no per-transfer throttle, so nobody is ever refused and everything sent to a server shares
 * its uplink (each transfer still capped by its client's downlink). A small server gets as many
 * clients as a big one, and its transfers slow down by sharing.
 */
export type SimPolicy = PolicyName | 'dns';

export interface RunResult {
  readonly policy: SimPolicy;
  readonly orders: number;
  readonly completed: number;
  /** Arrival to last byte, retries included, seconds. */
  readonly p50S: number;
  readonly p99S: number;
  /**
   * p99 of what each client would take alone on the fleet (its best server, no sharing, no
   * wait): no policy can do better, whatever it knows.
   */
  readonly floorP99S: number;
  readonly maxUtilisation: number;
  readonly meanUtilisation: number;
  /** Times a client was told to come back because every server refused. */
  readonly refusals: number;
  /** Notices a content server refused (the reception then tried the next server). */
  readonly noticesRefused: number;
  readonly servers: readonly ServerFigures[];
  /** Slots taken on each server, sampled every `sampleEveryS` (when asked for). */
  readonly samples: readonly { readonly t: number; readonly taken: readonly number[] }[];
}

export interface RunOptions {
  readonly sampleEveryS?: number;
  /**
   * The clients to run instead of the ones drawn from the seed (the live harness runs its own
   * list, with item sizes rounded to the files it serves, and the simulator replays it).
   */
  readonly clients?: readonly ClientSpec[];
}

interface ClientState {
  readonly spec: ClientSpec;
  attempts: number;
  noticesRefused: number;
  doneS: number;
}

interface Flow {
  readonly client: ClientState;
  left: number;
  readonly cap: number;
  rate: number;
}

class Server {
  readonly spec: ServerSpec;
  /** A plain web server (the DNS baseline): every request is taken, `taken` counts transfers. */
  readonly unlimited: boolean;
  taken = 0;
  served = 0;
  readonly flows: Flow[] = [];
  #last = 0;
  #version = 0;
  #takenSince = 0;
  #integral = 0;
  readonly #q: EventQueue;
  readonly #window: readonly [number, number];
  readonly #onDone: (flow: Flow) => void;

  constructor(spec: ServerSpec, q: EventQueue, window: readonly [number, number], onDone: (flow: Flow) => void, unlimited: boolean) {
    this.spec = spec;
    this.unlimited = unlimited;
    this.#q = q;
    this.#window = window;
    this.#onDone = onDone;
  }

  /** The notice: a slot if one is free. */
  offer(): boolean {
    if (!this.unlimited && this.taken >= this.spec.slots) return false;
    this.#count();
    this.taken++;
    return true;
  }

  release(): void {
    this.#count();
    this.taken--;
  }

  /** Slot-seconds taken within the window so far. */
  slotSeconds(): number {
    this.#count();
    return this.#integral;
  }

  #count(): void {
    const now = this.#q.now;
    const [w0, w1] = this.#window;
    const overlap = Math.max(0, Math.min(now, w1) - Math.max(this.#takenSince, w0));
    this.#integral += this.taken * overlap;
    this.#takenSince = now;
  }

  start(flow: Flow): void {
    this.#advance();
    this.flows.push(flow);
    this.#reshare();
  }

  #advance(): void {
    const now = this.#q.now;
    const dt = now - this.#last;
    if (dt > 0) for (const f of this.flows) f.left -= f.rate * dt;
    this.#last = now;
  }

  #reshare(): void {
    const rates = maxMinShare(
      this.flows.map((f) => f.cap),
      this.spec.uplinkBps,
    );
    let due: Flow | undefined;
    let dueIn = Infinity;
    this.flows.forEach((f, i) => {
      f.rate = rates[i] as number;
      const t = f.left / f.rate;
      if (t < dueIn) {
        dueIn = t;
        due = f;
      }
    });
    const version = ++this.#version;
    if (!due) return;
    const next = due;
    this.#q.after(dueIn, () => {
      if (version !== this.#version) return;
      this.#advance();
      next.left = 0;
      // Flows due within a nanosecond of this one end with it (rounding, not a real gap).
      const done = this.flows.filter((f) => f.left <= Math.max(1, f.rate * 1e-9));
      for (const f of done) this.flows.splice(this.flows.indexOf(f), 1);
      this.#reshare();
      for (const f of done) this.#onDone(f);
    });
  }
}

interface ViewEntry {
  reportedTaken: number;
  reportSentAt: number;
  receivedAt: number;
  /** Send times of this reception's notices since the report. */
  notices: number[];
  /** Release times of this reception's tickets heard of since the report. */
  releases: number[];
  refused: boolean;
}

class Reception {
  readonly policy: SelectionPolicy;
  readonly view = new Map<string, ViewEntry>();
  readonly #scenario: Scenario;

  constructor(scenario: Scenario, policy: SelectionPolicy) {
    this.#scenario = scenario;
    this.policy = policy;
    for (const s of scenario.fleet) {
      this.view.set(s.id, { reportedTaken: 0, reportSentAt: 0, receivedAt: 0, notices: [], releases: [], refused: false });
    }
  }

  candidates(): Candidate[] {
    const sc = this.#scenario;
    return sc.fleet.map((s) => {
      const v = this.view.get(s.id) as ViewEntry;
      return {
        serverId: s.id,
        capacity: s.slots,
        reportedTaken: v.reportedTaken,
        pendingNotices: v.notices.length,
        releasesSinceReport: v.releases.length,
        refusedSinceReport: v.refused,
        draining: false,
        reportedAt: v.receivedAt * 1000,
        area: s.area,
        cost: sc.rttS(sc.receptionArea, s.area) * 1000,
        costByArea: Object.fromEntries(sc.clientAreas.map((a) => [a.area, sc.rttS(a.area, s.area) * 1000])),
      };
    });
  }

  report(serverId: string, taken: number, sentAt: number, now: number): void {
    const v = this.view.get(serverId) as ViewEntry;
    if (sentAt < v.reportSentAt) return;
    v.reportedTaken = taken;
    v.reportSentAt = sentAt;
    v.receivedAt = now;
    // What happened before the server took its count is in the count.
    v.notices = v.notices.filter((t) => t > sentAt);
    v.releases = v.releases.filter((t) => t > sentAt);
    v.refused = false;
  }
}

export function simulate(scenario: Scenario, policyName: SimPolicy, seed: number, options: RunOptions = {}): RunResult {
  const q = new EventQueue();
  const w = scenario.workload;
  const window: readonly [number, number] = w.kind === 'steady' ? [w.warmupS, w.durationS] : [0, Infinity];
  const clients: ClientState[] = (options.clients ?? makeClients(scenario, seed)).map((spec) => ({ spec, attempts: 0, noticesRefused: 0, doneS: NaN }));
  const route = seededRandom(deriveSeed(seed, 'route', policyName));
  const retry = seededRandom(deriveSeed(seed, 'retry', policyName));
  const phase = seededRandom(deriveSeed(seed, 'phase'));
  const clock = { now: (): number => q.now * 1000 };
  const staleAfterMs = staleAfterS(scenario.reportIntervalS) * 1000;
  const receptions = Array.from(
    { length: scenario.receptions },
    (_, r) =>
      new Reception(
        scenario,
        createPolicy(policyName === 'dns' ? 'round-robin' : policyName, {
          clock,
          random: seededRandom(deriveSeed(seed, 'policy', policyName, r)),
          staleAfterMs,
          equalLoadBand: scenario.equalLoadBand,
        }),
      ),
  );
  let outstanding = clients.length;
  let dnsTurn = 0;
  let lastDone = 0;

  const servers = new Map<string, Server>();
  const onDone = (flow: Flow, server: Server, reception: Reception): void => {
    flow.client.doneS = q.now;
    lastDone = Math.max(lastDone, q.now);
    outstanding--;
    server.served++;
    q.after(scenario.releaseDelayS, () => {
      server.release();
      slotChanged(server);
      const releasedAt = q.now;
      q.after(scenario.completionLagS, () => {
        const v = reception.view.get(server.spec.id) as ViewEntry;
        if (releasedAt > v.reportSentAt) v.releases.push(releasedAt);
        // As the registry's noteRelease: a slot freed since the refusal, so not full any more.
        v.refused = false;
      });
    });
  };
  const flowOwner = new Map<Flow, Reception>();
  for (const spec of scenario.fleet) {
    const server: Server = new Server(spec, q, window, (flow) => onDone(flow, server, flowOwner.get(flow) as Reception), policyName === 'dns');
    servers.set(spec.id, server);
  }

  // Load reports: each server at its own phase, every interval, while anything is left to do;
  // with reportOnChangeGapS, also soon after a slot change (at most one extra per gap).
  const lastSentAt = new Map<string, number>();
  const extraDue = new Set<string>();
  const report = (server: Server): void => {
    const { id } = server.spec;
    const taken = server.taken;
    const sentAt = q.now;
    lastSentAt.set(id, sentAt);
    q.after(scenario.controlRttS / 2, () => {
      for (const r of receptions) r.report(id, taken, sentAt, q.now);
    });
  };
  const slotChanged = (server: Server): void => {
    const gap = scenario.reportOnChangeGapS;
    const { id } = server.spec;
    if (gap === undefined || extraDue.has(id)) return;
    extraDue.add(id);
    q.after(Math.max(0, (lastSentAt.get(id) ?? -Infinity) + gap - q.now), () => {
      extraDue.delete(id);
      report(server);
    });
  };
  for (const spec of scenario.fleet) {
    const server = servers.get(spec.id) as Server;
    const send = (): void => {
      report(server);
      if (outstanding > 0) q.after(scenario.reportIntervalS, send);
    };
    q.at(phase.next() * scenario.reportIntervalS, send);
  }

  const attempt = (client: ClientState): void => {
    client.attempts++;
    const reception = receptions[Math.floor(route.next() * receptions.length)] as Reception;
    const ordered =
      policyName === 'dns'
        ? [(scenario.fleet[dnsTurn++ % scenario.fleet.length] as ServerSpec).id]
        : reception.policy.order({ candidates: reception.candidates(), clientArea: client.spec.area });
    tryServer(client, reception, ordered, 0);
  };

  const tryServer = (client: ClientState, reception: Reception, ordered: readonly string[], k: number): void => {
    const id = ordered[k];
    if (id === undefined) {
      const [lo, hi] = scenario.retryDelayS;
      q.after(lo + (hi - lo) * retry.next(), () => attempt(client));
      return;
    }
    const server = servers.get(id) as Server;
    const sentAt = q.now;
    q.after(scenario.controlRttS / 2, () => {
      const accepted = server.offer();
      if (accepted) slotChanged(server);
      q.after(scenario.controlRttS / 2, () => {
        const v = reception.view.get(id) as ViewEntry;
        if (!accepted) {
          client.noticesRefused++;
          v.refused = true;
          tryServer(client, reception, ordered, k + 1);
          return;
        }
        if (sentAt > v.reportSentAt) v.notices.push(sentAt);
        // The ticket goes back to the client (half a round trip from the reception), which then
        // connects and asks (two round trips to the server) before the first byte moves.
        const toFirstByte = scenario.rttS(client.spec.area, scenario.receptionArea) / 2 + 2 * scenario.rttS(client.spec.area, server.spec.area);
        q.after(toFirstByte, () => {
          // A plain web server (dns) has no per-transfer throttle: only the client's downlink and
          // the shared uplink limit a transfer.
          const cap = server.unlimited ? client.spec.downlinkBps : Math.min(client.spec.downlinkBps, server.spec.perTransferBps);
          const flow: Flow = { client, left: client.spec.bytes, cap, rate: 0 };
          flowOwner.set(flow, reception);
          server.start(flow);
        });
      });
    });
  };

  for (const client of clients) q.at(client.spec.arriveS, () => attempt(client));

  const samples: { t: number; taken: number[] }[] = [];
  if (options.sampleEveryS !== undefined) {
    const every = options.sampleEveryS;
    const sample = (): void => {
      samples.push({ t: q.now, taken: scenario.fleet.map((s) => (servers.get(s.id) as Server).taken) });
      if (outstanding > 0) q.after(every, sample);
    };
    q.at(0, sample);
  }

  q.run();

  const measured = clients.filter((c) => c.spec.measured);
  const times = measured.map((c) => c.doneS - c.spec.arriveS).sort((a, b) => a - b);
  const alone = measured
    .map((c) =>
      Math.min(
        ...scenario.fleet.map(
          (s) =>
            scenario.rttS(c.spec.area, scenario.receptionArea) / 2 +
            2 * scenario.rttS(c.spec.area, s.area) +
            c.spec.bytes / Math.min(c.spec.downlinkBps, s.perTransferBps, s.uplinkBps),
        ),
      ),
    )
    .sort((a, b) => a - b);
  const [w0, w1] = window;
  const span = Math.min(w1, lastDone) - w0;
  const figures = scenario.fleet.map((s) => {
    const server = servers.get(s.id) as Server;
    return { id: s.id, utilisation: server.slotSeconds() / (s.slots * span), served: server.served };
  });
  return {
    policy: policyName,
    orders: measured.length,
    completed: measured.filter((c) => Number.isFinite(c.doneS)).length,
    p50S: quantile(times, 0.5),
    p99S: quantile(times, 0.99),
    floorP99S: quantile(alone, 0.99),
    maxUtilisation: Math.max(...figures.map((f) => f.utilisation)),
    meanUtilisation: figures.reduce((a, f) => a + f.utilisation, 0) / figures.length,
    refusals: measured.reduce((a, c) => a + c.attempts - 1, 0),
    noticesRefused: measured.reduce((a, c) => a + c.noticesRefused, 0),
    servers: figures,
    samples,
  };
}
