/** A candidate reduced to what the ordering steps compare. */
export interface ScoredServer {
  readonly serverId: string;
  /** Share of capacity taken, by whichever view the policy reads. */
  readonly load: number;
  /** Distance for this order (lower is nearer). */
  readonly cost: number;
  /** Capacity in slots: the weight for sampling. */
  readonly capacity: number;
}
