import type { Clock } from '../clock.js';
import type { RandomSource } from './random-source.js';

/** What every policy is built with: time and chance come from outside, so the core stays pure. */
export interface PolicyDeps {
  readonly clock: Clock;
  readonly random: RandomSource;
  /** A server whose last report arrived longer ago than this is left out (it may be dead). */
  readonly staleAfterMs: number;
  /** Loads (shares of capacity) within this of each other count as about equal; the nearer server then wins. */
  readonly equalLoadBand: number;
}
