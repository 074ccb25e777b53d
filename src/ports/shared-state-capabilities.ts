// What a shared-state adapter can and cannot do. Callers branch on these, never on which
// backend it is.

export interface SharedStateCapabilities {
  /**
   * Other processes (receptions, content servers, other processes of the same content server)
   * see what this process writes. False for the in-process adapters: each process has its
   * own, so a role that needs the state from another process must carry it itself (the HTTP
   * control listener does that in the embedded topology).
   */
  readonly crossProcess: boolean;
  /**
   * The store can lose everything while this process lives (a Redis without persistence
   * restarting). The adapter then tells its `onLost` listeners, and the caller refills it
   * from what it holds durably. False for in-process adapters: they die with their process.
   */
  readonly losesStateOnStoreRestart: boolean;
}

/** Stops a subscription or a listener. Idempotent. */
export type Unsubscribe = () => Promise<void>;

/** Told when the store has lost its contents; refilling is the listener's job. */
export type LostListener = () => void;
