import type { Completion, LoadReportReply, Notice, NoticeAccepted } from '../core/control/messages.js';
import type { ProblemCode } from '../core/errors.js';
import type { Unsubscribe } from './shared-state-capabilities.js';

// The control channel (the "dedicated network" of seed 000 claim 3) between receptions and
// content servers, apart from load reports, which travel on the LoadReportBoard
// (src/ports/load-report-board.ts):
// - requests from a reception to one content server, each with its answer or a timeout:
//   notices of issuance (the allocation check, R4), their withdrawal, and the server's
//   settings (its key set and the operator's drain, which the HTTP path sends as the reply to
//   a load report);
// - completions from content servers to the receptions, delivered at least once: a
//   completion is acknowledged only once a reception has recorded it, and one that a
//   reception took but never acknowledged (it died) goes to another reception.
//   Besides, every reception watching hears of each completion as it is appended, so that the
//   one that sent its notice knows the slot is free (a hint, at most once).
//
// Adapters: in-process (src/adapters/memory/, for one process and for tests) and Redis
// (src/adapters/redis/: pub/sub for requests and answers, a stream with a consumer group for
// completions, pub/sub for the watchers' hints). The embedded multi-process topology keeps the HTTP control listeners.
// Contract: src/ports/control-channel.contract.test.ts.

export type ControlRequest =
  | { readonly kind: 'notice'; readonly notice: Notice }
  | { readonly kind: 'withdraw-notice'; readonly ticketId: string }
  | { readonly kind: 'server-settings'; readonly settings: LoadReportReply };

/** What a content server's handler answers. */
export type ControlReply =
  | { readonly kind: 'notice-accepted'; readonly accepted: NoticeAccepted }
  | { readonly kind: 'done' }
  | { readonly kind: 'refused'; readonly code: ProblemCode; readonly detail: string };

/** What a requester gets: the handler's reply, or the channel's word that none came. */
export type ControlAnswer =
  | ControlReply
  | {
      readonly kind: 'unanswered';
      /**
       * timeout: nothing came back in time (the request may still have been acted on: a
       * notice held this way is released at its hold deadline). unreachable: nobody serves
       * that server ID, or the channel is down; nothing was acted on.
       */
      readonly reason: 'timeout' | 'unreachable';
    };

/** Answers one request. A handler that throws is answered as `refused` with code `internal`. */
export type ControlHandler = (request: ControlRequest) => Promise<ControlReply>;

export interface ControlChannelCapabilities {
  /** Requests and completions cross process boundaries (false: in-process only). */
  readonly crossProcess: boolean;
  /**
   * A request to a server ID that nobody serves is answered `unreachable` at once rather than
   * after the timeout.
   */
  readonly detectsAbsentResponder: boolean;
}

/** Records a batch of completions; the batch is acknowledged only when this resolves. */
export type CompletionHandler = (batch: readonly Completion[]) => Promise<void>;

export interface ConsumeOptions {
  /** Most completions handed to the handler at once (default 100). */
  readonly maxBatch?: number;
  /**
   * How long a completion handed to a consumer may stay unacknowledged before another
   * consumer (or the same one, when its handler failed) takes it over, ms (default 30,000).
   */
  readonly claimIdleMs?: number;
}

export interface CompletionStream {
  /** Resolves once the channel holds every completion given; rejects when it could not take them. */
  append(completions: readonly Completion[]): Promise<void>;
  /**
   * Consumes completions as `consumer` (a stable name per reception process: a reception that
   * restarts under the same name gets back what it had taken). Every completion appended
   * reaches exactly one consumer at a time, and again after `claimIdleMs` until one
   * acknowledges it, so the handler must be idempotent (recording a completion twice changes
   * nothing). Unsubscribing stops taking completions and acknowledges nothing more.
   */
  consume(consumer: string, handler: CompletionHandler, options?: ConsumeOptions): Promise<Unsubscribe>;
  /**
   * Tells every watcher of every completion appended from when its watch is in place: each
   * reception learns that a slot ended, whichever reception records the completion (the one
   * that sent the ticket's notice counts that slot as taken until it hears so). A hint, not a
   * record: at most once, and nothing while the channel is down; the next load report covers
   * what is missed. The handler must not throw.
   */
  watch(handler: CompletionWatcher): Promise<Unsubscribe>;
}

/** Hears completions as they are appended (CompletionStream.watch). */
export type CompletionWatcher = (completions: readonly Completion[]) => void;

export interface ControlChannel {
  readonly capabilities: ControlChannelCapabilities;
  /** Sends `request` to content server `serverId` and waits up to `timeoutMs` for the answer. */
  request(serverId: string, request: ControlRequest, timeoutMs: number): Promise<ControlAnswer>;
  /**
   * Answers the requests sent to `serverId` until unsubscribed. One process serves a server
   * ID; a request that arrives after its sender stopped waiting is dropped unanswered, so a
   * late notice never takes a slot its reception has given up on.
   */
  serve(serverId: string, handler: ControlHandler): Promise<Unsubscribe>;
  readonly completions: CompletionStream;
  close(): Promise<void>;
}
