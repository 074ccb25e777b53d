import type { CpuBill } from './measure.js';
import type { Target } from './targets.js';

export type Placement = 'pinned' | 'shared';

/** One line of a result table: a target, where it runs, and how it is described. */
export interface RowSpec {
  readonly key: string;
  readonly label: string;
  readonly target: Target;
  readonly placement: Placement;
  /** Plan fresh tickets at least at the rate this other row reached (same server code). */
  readonly planLike?: string;
}

export interface Sample {
  /** Requests/s (small item) or bytes/s (large file). */
  readonly value: number;
  /** Requests or downloads done. */
  readonly done: number;
  /** Failed requests or downloads (socket errors, wrong status, short body). */
  readonly failed: number;
  readonly seconds: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly bill: CpuBill;
  /** How many times the run was taken again (other load on the machine, tickets ran out). */
  readonly retakes: number;
}

export interface RowResult {
  readonly row: RowSpec;
  readonly samples: Sample[];
  /** Why a row has no samples (a set-up that could not run), when it has none. */
  skipped?: string;
}
