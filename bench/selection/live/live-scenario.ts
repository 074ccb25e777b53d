import type { ClientSpec } from '../sim/clients.js';
import type { Scenario, ServerSpec, Workload } from '../sim/scenario.js';

// The simulator's scenarios scaled to what this machine (2 shared cores) can drive for real:
// the same shape of fleet (a big and a mid server, two small ones; slots ≈ 2 × uplink ÷
// throttle, the small servers with half the throttle), half the slots, a sixteenth of every
// rate, and items a thirty-second of the size, so transfers take half as long as in the
// simulator's scenario. The numbers are set here once, as the simulator's are, not tuned to
// make a policy win; the simulator replays exactly this scenario (same clients) for the
// comparison.

const KiB = 1024;
const Mbit = 1_000_000 / 8;

/**
 * The fleet at `pace`: every rate divided by it. At pace 2 a transfer takes twice as long, so
 * the same slot occupancy costs the machine half the orders per second: headroom on two cores,
 * where at pace 1 the harness itself keeps the machine saturated (load average ~5).
 */
export function liveFleetAt(pace: number): ServerSpec[] {
  return [
    { id: 'big-a', area: 'a', slots: 32, perTransferBps: (256 * KiB) / pace, uplinkBps: (62.5 * Mbit) / pace },
    { id: 'mid-b', area: 'b', slots: 16, perTransferBps: (256 * KiB) / pace, uplinkBps: (31.25 * Mbit) / pace },
    { id: 'small-a', area: 'a', slots: 4, perTransferBps: (128 * KiB) / pace, uplinkBps: (6.25 * Mbit) / pace },
    { id: 'small-b', area: 'b', slots: 4, perTransferBps: (128 * KiB) / pace, uplinkBps: (6.25 * Mbit) / pace },
  ];
}

export const liveFleet: readonly ServerSpec[] = liveFleetAt(1);

/** Items served: 16 KiB … 1 MiB, a factor √2 apart; each client's drawn size is rounded to the nearest (in log). */
export const itemSizes: readonly number[] = Array.from({ length: 13 }, (_, i) => Math.round(16 * KiB * Math.SQRT2 ** i));

export type LiveWorkloadName = 'flash' | 'steady';

/**
 * How the content servers report: `periodic`, on the interval only (TESSERA_REPORT_ON_CHANGE=false),
 * so a 5 s interval means reports up to 5 s old, the issue's scenario and what the simulator's
 * published runs model; `on-change`, as shipped, also within 50 ms of a slot change, which keeps
 * the receptions' view fresh whatever the interval while slots change.
 */
export type ReportMode = 'periodic' | 'on-change';

export function parseReportMode(text: string): ReportMode {
  if (text !== 'periodic' && text !== 'on-change') throw new TypeError(`--reports must be periodic or on-change, not ${text}`);
  return text;
}

/** The content server's least gap between two reports sent because slots changed (load-reporter). */
const ON_CHANGE_GAP_S = 0.05;

export const liveWorkloads: Record<LiveWorkloadName, Workload> = liveWorkloadsAt(1);

/**
 * The workloads at `pace` (see liveFleetAt): the crowd arrives over `pace` seconds and the
 * steady load lasts `pace` times as long, so each meets the fleet as at pace 1, with the same
 * number of orders, spread over more time.
 */
export function liveWorkloadsAt(pace: number): Record<LiveWorkloadName, Workload> {
  return {
    flash: { kind: 'flash', clients: 300, withinS: 1 * pace },
    // 75 % of the nominal throughput, not the simulator's 90 %: each order here also costs its
    // ticket, a connection and the content server's acknowledgement check on two busy cores, which
    // nominal throughput (slots × rate) leaves out. At 90 % every cell ran with all slots taken and
    // most clients told to come back (a first run: 96–100 % of slots, 550–1,400 busy answers for
    // 678 orders), which is past capacity, not near it.
    steady: { kind: 'steady', load: 0.75, durationS: 18 * pace, warmupS: 4 * pace },
  };
}

/**
 * The live scenario as the simulator runs it. Differences from the simulator's published one
 * that follow from the live system, not from a choice:
 * - One client area: the reception cannot tell a client's area from a loopback address, so
 *   every order is ranked by the cost from the reception (area a: 1, area b: 4, as TESSERA_COST).
 * - Round trips of 1 and 4 ms: loopback has none to speak of; only their order matters (cost).
 * - A busy client comes back after the reception's Retry-After (whole seconds, at least 1: the
 *   predicted time to the next free slot; the live receptions run without a waiting line) plus
 *   up to a second at random (the client library's jitter); the simulator's clients come back
 *   after 1–2 s.
 */
export function liveScenario(workload: LiveWorkloadName, receptions: number, reportIntervalS: number, pace = 1, reports: ReportMode = 'periodic'): Scenario {
  return {
    fleet: liveFleetAt(pace),
    workload: liveWorkloadsAt(pace)[workload],
    receptions,
    reportIntervalS,
    ...(reports === 'on-change' ? { reportOnChangeGapS: ON_CHANGE_GAP_S } : {}),
    itemBytes: [16 * KiB, 1024 * KiB],
    clientDownlinkBps: [(1 * Mbit) / pace, (20 * Mbit) / pace],
    clientAreas: [{ area: 'a', share: 1 }],
    receptionArea: 'a',
    rttS: (from, to) => (from === to ? 0.001 : 0.004),
    controlRttS: 0.001,
    retryDelayS: [1, 2],
    releaseDelayS: 0.04,
    completionLagS: 0.05,
    equalLoadBand: 0.1,
  };
}

/** TESSERA_COST of a server: the scenario's round trip from the reception, in ms. */
export function costOf(server: ServerSpec): number {
  return server.area === 'a' ? 1 : 4;
}

export function nearestItem(bytes: number): number {
  let best = itemSizes[0] as number;
  for (const size of itemSizes) if (Math.abs(Math.log(size / bytes)) < Math.abs(Math.log(best / bytes))) best = size;
  return best;
}

/** The clients with their sizes rounded to the items served: what the live run sends and the simulator replays. */
export function quantised(clients: readonly ClientSpec[]): ClientSpec[] {
  return clients.map((c) => ({ ...c, bytes: nearestItem(c.bytes) }));
}
