import type { SlotReport } from '../../../src/core/control/messages.js';
import type { Candidate } from '../../../src/core/selection/candidate.js';
import { createPolicy } from '../../../src/core/selection/create-policy.js';
import type { PolicyName } from '../../../src/core/selection/policy-name.js';
import { seededRandom } from '../../../src/core/selection/seeded-random.js';
import type { SelectionPolicy } from '../../../src/core/selection/selection-policy.js';
import { slotFreeInMs } from '../../../src/core/selection/slot-free-in.js';
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
  /**
   * Reports list each slot with its bytes left and rate, and the receptions bring old reports
   * forward from them (src/core/selection/slot-free-in.ts), as Tessera does; false: the count
   * alone, as before 2026-11-22 (for comparison).
   */
  readonly slotForecasts?: boolean;
}

interface ClientState {
  readonly spec: ClientSpec;
  attempts: number;
  noticesRefused: number;
  doneS: number;
}

interface Flow {
  readonly slot: number;
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
  /** Slots taken, by ticket: the item's size, and its transfer once the client has connected. */
  readonly slots = new Map<number, { readonly bytes: number; flow?: Flow }>();
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
  offer(ticket: number, bytes: number): boolean {
    if (!this.unlimited && this.taken >= this.spec.slots) return false;
    this.#count();
    this.taken++;
    this.slots.set(ticket, { bytes });
    return true;
  }

  release(ticket: number): void {
    this.#count();
    this.taken--;
    this.slots.delete(ticket);
  }

  /**
   * The slots as a load report lists them (src/servers/content/slot-table.ts): a transfer with
   * its bytes left and its rate now, a slot held for a client not connected yet with its item's
   * size. A finished transfer whose slot is not released yet shows 0 bytes left.
   */
  slotReports(holdS: number): SlotReport[] {
    this.#advance();
    const nowMs = this.#q.now * 1000;
    return [...this.slots].map(([ticket, slot]) =>
      slot.flow
        ? { ticketId: String(ticket), state: 'active', remainingBytes: Math.max(0, slot.flow.left), bytesPerSecond: slot.flow.rate, releaseBy: Infinity }
        : { ticketId: String(ticket), state: 'held', remainingBytes: slot.bytes, bytesPerSecond: 0, releaseBy: nowMs + holdS * 1000 },
    );
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
    const slot = this.slots.get(flow.slot);
    if (slot) slot.flow = flow;
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
  /** The slots the report listed, by ticket: when each is expected to free (ms, from the report's figures). */
  reported: Map<number, number>;
  /** This reception's notices since the report that have not ended: ticket → send time. */
  notices: Map<number, number>;
  /** This reception's tickets heard to have ended: ticket → release time, until a report sent after it. */
  ended: Map<number, number>;
  refused: boolean;
}

class Reception {
  readonly policy: SelectionPolicy;
  readonly view = new Map<string, ViewEntry>();
  readonly #scenario: Scenario;
  readonly #forecasts: boolean;

  constructor(scenario: Scenario, policy: SelectionPolicy, forecasts: boolean) {
    this.#scenario = scenario;
    this.policy = policy;
    this.#forecasts = forecasts;
    for (const s of scenario.fleet) {
      this.view.set(s.id, { reportedTaken: 0, reportSentAt: 0, receivedAt: 0, reported: new Map(), notices: new Map(), ended: new Map(), refused: false });
    }
  }

  candidates(): Candidate[] {
    const sc = this.#scenario;
    return sc.fleet.map((s) => {
      const v = this.view.get(s.id) as ViewEntry;
      // As the registry: the report's slots less the ones this reception heard end since.
      const stillTaken = [...v.reported].filter(([ticket]) => !v.ended.has(ticket));
      return {
        serverId: s.id,
        capacity: s.slots,
        reportedTaken: v.reportedTaken,
        pendingNotices: v.notices.size,
        releasesSinceReport: v.reported.size - stillTaken.length,
        refusedSinceReport: v.refused,
        ...(this.#forecasts ? { reportedSlotsFreeAt: stillTaken.map(([, freeAt]) => freeAt) } : {}),
        draining: false,
        reportedAt: v.receivedAt * 1000,
        area: s.area,
        cost: sc.rttS(sc.receptionArea, s.area) * 1000,
        costByArea: Object.fromEntries(sc.clientAreas.map((a) => [a.area, sc.rttS(a.area, s.area) * 1000])),
      };
    });
  }

  report(serverId: string, slots: readonly SlotReport[], sentAt: number, now: number, perTransferBps: number): void {
    const v = this.view.get(serverId) as ViewEntry;
    if (sentAt < v.reportSentAt) return;
    v.reportedTaken = slots.length;
    v.reportSentAt = sentAt;
    v.receivedAt = now;
    // As the registry: the rate of a held slot's transfer-to-be is what transfers there get now.
    const rates = slots.filter((slot) => slot.state === 'active' && slot.bytesPerSecond > 0).map((slot) => slot.bytesPerSecond);
    const rate = rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : perTransferBps;
    v.reported = new Map(slots.map((slot) => [Number(slot.ticketId), now * 1000 + slotFreeInMs(slot, sentAt * 1000, rate)]));
    // What happened before the server took its count is in the count.
    for (const [ticket, at] of v.notices) if (at <= sentAt) v.notices.delete(ticket);
    for (const [ticket, at] of v.ended) if (at <= sentAt) v.ended.delete(ticket);
    v.refused = false;
  }

  /** A completion of one of this reception's tickets arrived (as the registry's noteRelease). */
  heardEnd(serverId: string, ticket: number, releasedAt: number): void {
    const v = this.view.get(serverId) as ViewEntry;
    if (!v.notices.delete(ticket)) v.ended.set(ticket, releasedAt);
    // A slot freed since the refusal, so not full any more.
    v.refused = false;
  }
}

/** How long a content server holds a slot for a client that has not connected (TESSERA_HOLD_MS's order). */
const HOLD_S = 30;

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
        options.slotForecasts ?? true,
      ),
  );
  let outstanding = clients.length;
  let nextTicket = 1;
  let dnsTurn = 0;
  let lastDone = 0;

  const servers = new Map<string, Server>();
  const onDone = (flow: Flow, server: Server, reception: Reception): void => {
    flow.client.doneS = q.now;
    lastDone = Math.max(lastDone, q.now);
    outstanding--;
    server.served++;
    q.after(scenario.releaseDelayS, () => {
      server.release(flow.slot);
      slotChanged(server);
      const releasedAt = q.now;
      q.after(scenario.completionLagS, () => reception.heardEnd(server.spec.id, flow.slot, releasedAt));
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
    const slots = server.slotReports(HOLD_S);
    const sentAt = q.now;
    lastSentAt.set(id, sentAt);
    q.after(scenario.controlRttS / 2, () => {
      for (const r of receptions) r.report(id, slots, sentAt, q.now, server.spec.perTransferBps);
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
    const ticket = nextTicket++;
    q.after(scenario.controlRttS / 2, () => {
      const accepted = server.offer(ticket, client.spec.bytes);
      if (accepted) slotChanged(server);
      q.after(scenario.controlRttS / 2, () => {
        const v = reception.view.get(id) as ViewEntry;
        if (!accepted) {
          client.noticesRefused++;
          v.refused = true;
          tryServer(client, reception, ordered, k + 1);
          return;
        }
        if (sentAt > v.reportSentAt) v.notices.set(ticket, sentAt);
        // The ticket goes back to the client (half a round trip from the reception), which then
        // connects and asks (two round trips to the server) before the first byte moves.
        const toFirstByte = scenario.rttS(client.spec.area, scenario.receptionArea) / 2 + 2 * scenario.rttS(client.spec.area, server.spec.area);
        q.after(toFirstByte, () => {
          // A plain web server (dns) has no per-transfer throttle: only the client's downlink and
          // the shared uplink limit a transfer.
          const cap = server.unlimited ? client.spec.downlinkBps : Math.min(client.spec.downlinkBps, server.spec.perTransferBps);
          const flow: Flow = { slot: ticket, client, left: client.spec.bytes, cap, rate: 0 };
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
