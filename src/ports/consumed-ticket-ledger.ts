import type { LostListener, SharedStateCapabilities } from './shared-state-capabilities.js';

// Tickets that must never be honoured again (R8): used up on a content server, or revoked by a
// reception that issued a replacement. Each entry is kept until the ticket's window has closed
// (`forgetAt`), after which no request under it can pass verification anyway, so the ledger
// stays bounded.
//
// The ledger is shared (several processes of one content server, a restarted content server,
// revocations from receptions), but it is never the only copy: a content server keeps every
// ticket it consumed in its own table too (write-through) and refills the ledger when the
// store lost it (docs/scale-out.md, "Redis restarted"). Until the ledger has been refilled by
// every writer, it answers `unknown` for a ticket it does not hold, and the caller decides
// with its own copy.
//
// Adapters: in-process (src/adapters/memory/) and Redis (src/adapters/redis/, SET NX PXAT).
// Contract: src/ports/consumed-ticket-ledger.contract.test.ts.

export type LedgerAnswer =
  /** Used up or revoked: refuse. */
  | 'consumed'
  /** Not in the ledger, and the ledger is whole. */
  | 'unused'
  /** Not in the ledger, but the ledger was lost recently and may not be whole yet. */
  | 'unknown';

export interface LedgerEntry {
  /** A lowercase UUID. */
  readonly ticketId: string;
  /** Unix ms after which the entry may be forgotten: the ticket's expiry plus clock tolerance. */
  readonly forgetAt: number;
}

export interface ConsumedTicketLedger {
  readonly capabilities: SharedStateCapabilities;
  /**
   * Adds the ticket unless it is already there, atomically across every process that shares
   * the ledger: true for exactly one of any number of concurrent callers. An entry whose
   * `forgetAt` has passed is not added (and the call returns true: nothing refuses it twice).
   * Throws TypeError for an ID that is not a UUID.
   */
  consume(ticketId: string, forgetAt: number): Promise<boolean>;
  check(ticketId: string): Promise<LedgerAnswer>;
  /**
   * Adds every entry that is not there yet; an entry already there keeps the later `forgetAt`.
   * For refilling the ledger from a local copy after a loss, and for bulk revocation.
   */
  addAll(entries: readonly LedgerEntry[]): Promise<void>;
  /** The store lost the ledger: refill it with `addAll` from the local copy. */
  onLost(listener: LostListener): () => void;
  close(): Promise<void>;
}
