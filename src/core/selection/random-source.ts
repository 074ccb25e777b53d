/**
 * Where a policy's chance comes from. The core never calls Math.random: the reception passes a
 * source seeded at start, tests and the simulator pass one with a fixed seed, so a run repeats.
 */
export interface RandomSource {
  /** A number in [0, 1). */
  next(): number;
}
