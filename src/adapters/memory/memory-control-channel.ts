import type { Clock } from '../../core/clock.js';
import type { Completion } from '../../core/control/messages.js';
import type {
  CompletionHandler,
  CompletionStream,
  CompletionWatcher,
  ConsumeOptions,
  ControlAnswer,
  ControlChannel,
  ControlChannelCapabilities,
  ControlHandler,
  ControlReply,
  ControlRequest,
} from '../../ports/control-channel.js';
import type { Unsubscribe } from '../../ports/shared-state-capabilities.js';

// The control channel inside one process: requests call the server's handler directly,
// completions wait in an array until a consumer acknowledges them. It has the Redis adapter's
// semantics (at-least-once, take-over after claimIdleMs by the injected clock) so the same
// contract holds for both; consumers look for work when completions arrive and every
// `pollMs` besides, which is how a completion another consumer left behind is found.

interface Pending {
  readonly id: number;
  readonly completion: Completion;
  owner: string | undefined;
  deliveredAt: number;
}

interface ChannelState {
  readonly handlers: Map<string, ControlHandler>;
  readonly pending: Pending[];
  readonly wakers: Set<() => void>;
  readonly watchers: Set<CompletionWatcher>;
  nextId: number;
}

export interface MemoryControlChannelOptions {
  /** How often an idle consumer looks for completions to take over, ms (default 50). */
  readonly pollMs?: number;
}

export class MemoryControlChannel implements ControlChannel {
  readonly capabilities: ControlChannelCapabilities = { crossProcess: false, detectsAbsentResponder: true };
  readonly completions: CompletionStream;
  readonly #clock: Clock;
  readonly #s: ChannelState;
  readonly #pollMs: number;
  readonly #closers = new Set<Unsubscribe>();

  constructor(clock: Clock, options: MemoryControlChannelOptions = {}, state?: ChannelState) {
    this.#clock = clock;
    this.#pollMs = options.pollMs ?? 50;
    this.#s = state ?? { handlers: new Map(), pending: [], wakers: new Set(), watchers: new Set(), nextId: 1 };
    this.completions = {
      append: (completions) => this.#append(completions),
      consume: (consumer, handler, opts) => this.#consume(consumer, handler, opts ?? {}),
      watch: (handler) => this.#watchCompletions(handler),
    };
  }

  /** Another handle on the same channel, as another process would hold on a shared one. */
  share(): MemoryControlChannel {
    return new MemoryControlChannel(this.#clock, { pollMs: this.#pollMs }, this.#s);
  }

  async request(serverId: string, request: ControlRequest, timeoutMs: number): Promise<ControlAnswer> {
    const handler = this.#s.handlers.get(serverId);
    if (handler === undefined) return { kind: 'unanswered', reason: 'unreachable' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ControlAnswer>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'unanswered', reason: 'timeout' }), timeoutMs);
    });
    try {
      return await Promise.race([answer(handler, request), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async serve(serverId: string, handler: ControlHandler): Promise<Unsubscribe> {
    if (this.#s.handlers.has(serverId)) throw new TypeError(`server ${serverId} is served already`);
    this.#s.handlers.set(serverId, handler);
    const stop: Unsubscribe = async () => {
      if (this.#s.handlers.get(serverId) === handler) this.#s.handlers.delete(serverId);
      this.#closers.delete(stop);
    };
    this.#closers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    for (const stop of [...this.#closers]) await stop();
  }

  async #append(completions: readonly Completion[]): Promise<void> {
    for (const completion of completions) this.#s.pending.push({ id: this.#s.nextId++, completion, owner: undefined, deliveredAt: 0 });
    for (const wake of [...this.#s.wakers]) wake();
    if (completions.length === 0) return;
    const batch = [...completions];
    // Later, as a message would arrive: never inside the producer's call.
    for (const watcher of [...this.#s.watchers]) {
      queueMicrotask(() => {
        // As on Redis: a watch stopped before the message arrives hears nothing.
        if (!this.#s.watchers.has(watcher)) return;
        try {
          watcher(batch);
        } catch {
          // A watcher must not throw (CompletionWatcher); one that does loses only its hint.
        }
      });
    }
  }

  async #watchCompletions(handler: CompletionWatcher): Promise<Unsubscribe> {
    // One registration per watch, even for the same handler twice.
    const watcher: CompletionWatcher = (batch) => handler(batch);
    this.#s.watchers.add(watcher);
    const stop: Unsubscribe = async () => {
      this.#s.watchers.delete(watcher);
      this.#closers.delete(stop);
    };
    this.#closers.add(stop);
    return stop;
  }

  async #consume(consumer: string, handler: CompletionHandler, options: ConsumeOptions): Promise<Unsubscribe> {
    const maxBatch = options.maxBatch ?? 100;
    const claimIdleMs = options.claimIdleMs ?? 30_000;
    let stopped = false;
    let running = false;
    let again = false;
    const s = this.#s;
    const take = (): Pending[] => {
      const now = this.#clock.now();
      const batch: Pending[] = [];
      // What this consumer took before and never acknowledged comes first (a restarted
      // reception under the same name), then new completions, then abandoned ones.
      for (const p of s.pending) if (batch.length < maxBatch && p.owner === consumer && now - p.deliveredAt >= claimIdleMs) batch.push(p);
      for (const p of s.pending) if (batch.length < maxBatch && p.owner === undefined) batch.push(p);
      for (const p of s.pending) if (batch.length < maxBatch && p.owner !== undefined && p.owner !== consumer && now - p.deliveredAt >= claimIdleMs) batch.push(p);
      for (const p of batch) {
        p.owner = consumer;
        p.deliveredAt = now;
      }
      return batch;
    };
    const pump = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const batch = take();
          if (batch.length === 0 || stopped) break;
          try {
            await handler(batch.map((p) => p.completion));
          } catch {
            // Left pending: taken over again after claimIdleMs.
            continue;
          }
          if (stopped) break;
          const done = new Set(batch.map((p) => p.id));
          for (let i = s.pending.length - 1; i >= 0; i--) if (done.has((s.pending[i] as Pending).id)) s.pending.splice(i, 1);
          again = true;
        } while (again && !stopped);
      } finally {
        running = false;
      }
    };
    const wake = (): void => void pump();
    s.wakers.add(wake);
    const timer = setInterval(wake, this.#pollMs);
    timer.unref();
    // A consumer that came back under the same name takes back what it held.
    for (const p of s.pending) if (p.owner === consumer) p.deliveredAt = Number.NEGATIVE_INFINITY;
    wake();
    const stop: Unsubscribe = async () => {
      stopped = true;
      clearInterval(timer);
      s.wakers.delete(wake);
      this.#closers.delete(stop);
    };
    this.#closers.add(stop);
    return stop;
  }
}

async function answer(handler: ControlHandler, request: ControlRequest): Promise<ControlReply> {
  try {
    return await handler(request);
  } catch (error) {
    return { kind: 'refused', code: 'internal', detail: error instanceof Error ? error.message : String(error) };
  }
}
