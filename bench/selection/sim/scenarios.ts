import { MiB, type Scenario, type ServerSpec, type Workload } from './scenario.js';

// The published scenarios. The numbers describe a small shop's fleet as it is usually bought,
// not numbers searched for to make a policy win:
// - Servers of different sizes in two areas: one 1 Gbit/s machine and one 500 Mbit/s machine
//   bought for the sale, and two old 100 Mbit/s machines kept on. Slots are sized at about
//   twice uplink ÷ throttle, because many clients download below the throttle and a slot is
//   held from the notice to the last byte (so an uplink is not left idle by slow clients).
//   The small machines get a lower throttle, as an operator would set on a 100 Mbit/s link.
// - Clients on broadband: downlinks log-uniform 16–320 Mbit/s; 60 % in area a, 40 % in b;
//   20 ms round trips within an area, 80 ms across.
// - Items from a single photo to a lossless album track: 0.5–32 MiB, log-uniform (mean 7.6 MiB).
// - The control channel is a LAN: 1 ms round trips. A refused client comes back after 1–3 s
//   (the waiting line's Retry-After is of that order). A slot is released 40 ms after the last
//   byte (delayed ACK); the issuing reception hears of it 50 ms later (batched completions).
// - Flash crowd: 2,000 clients within 5 s (the repo's bench:crowd size). Steady: Poisson
//   arrivals at 90 % of the fleet's nominal throughput for 10 minutes, the first minute left out.

const Mbit = 1_000_000 / 8;

export const mixedFleet: readonly ServerSpec[] = [
  { id: 'big-a', area: 'a', slots: 64, perTransferBps: 4 * MiB, uplinkBps: 1000 * Mbit },
  { id: 'mid-b', area: 'b', slots: 32, perTransferBps: 4 * MiB, uplinkBps: 500 * Mbit },
  { id: 'small-a', area: 'a', slots: 8, perTransferBps: 2 * MiB, uplinkBps: 100 * Mbit },
  { id: 'small-b', area: 'b', slots: 8, perTransferBps: 2 * MiB, uplinkBps: 100 * Mbit },
];

/** A control: four equal servers of the same total slots, to see what is due to sizes. */
export const equalFleet: readonly ServerSpec[] = [
  { id: 'eq1-a', area: 'a', slots: 28, perTransferBps: 4 * MiB, uplinkBps: 400 * Mbit },
  { id: 'eq2-b', area: 'b', slots: 28, perTransferBps: 4 * MiB, uplinkBps: 400 * Mbit },
  { id: 'eq3-a', area: 'a', slots: 28, perTransferBps: 4 * MiB, uplinkBps: 400 * Mbit },
  { id: 'eq4-b', area: 'b', slots: 28, perTransferBps: 4 * MiB, uplinkBps: 400 * Mbit },
];

export const flashCrowd: Workload = { kind: 'flash', clients: 2000, withinS: 5 };
export const steadyLoad: Workload = { kind: 'steady', load: 0.9, durationS: 600, warmupS: 60 };

export const baseScenario: Omit<Scenario, 'workload' | 'receptions' | 'reportIntervalS'> = {
  fleet: mixedFleet,
  itemBytes: [0.5 * MiB, 32 * MiB],
  clientDownlinkBps: [16 * Mbit, 320 * Mbit],
  clientAreas: [
    { area: 'a', share: 0.6 },
    { area: 'b', share: 0.4 },
  ],
  receptionArea: 'a',
  rttS: (from, to) => (from === to ? 0.02 : 0.08),
  controlRttS: 0.001,
  retryDelayS: [1, 3],
  releaseDelayS: 0.04,
  completionLagS: 0.05,
  equalLoadBand: 0.1,
};

export const reportIntervalsS = [0.1, 1, 5] as const;
export const receptionCounts = [1, 4] as const;
