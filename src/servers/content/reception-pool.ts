import { ReceptionClient, type ReceptionReply } from './reception-client.js';

// A content server may serve several receptions (issue 4: several receptions share the public
// entry; each keeps its own view of the servers' load). Each reception must see every load
// report, so reports go to all of them at once. A completion needs to reach only one: they
// share the order store, and any of them records it. A completion goes to the reception that sent
// the ticket's notice, known by the name each reception gives in its replies to load reports, so
// that the reception counting the slot as taken by its own ticket hears it is free; a completion
// of no known reception goes to the one that last answered. Either way, to the next one in the
// list when that one cannot be reached.

export interface ReceptionAnswer {
  readonly url: string;
  readonly reply?: ReceptionReply;
  readonly error?: Error;
}

/** Answers that mean "try another reception": it is down, overloaded or restarting. */
function worthAnother(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

export class ReceptionPool {
  readonly #clients: readonly { readonly url: string; readonly client: ReceptionClient }[];
  /** Index of the reception that answered last: completions go there first. */
  #preferred = 0;
  /** Index of each reception by the name it gave in a reply. */
  readonly #byName = new Map<string, number>();

  /**
   * `urls` is empty with shared state on Redis, where reports and completions go through Redis
   * and no reception is reached over HTTP (the configuration requires a URL otherwise).
   */
  constructor(urls: readonly string[], token: string) {
    this.#clients = urls.map((url) => ({ url, client: new ReceptionClient(url, token) }));
  }

  get size(): number {
    return this.#clients.length;
  }

  /** POSTs to every reception at once; one answer (or error) per reception, in list order. */
  broadcast(path: string, body: unknown, timeoutMs: number): Promise<ReceptionAnswer[]> {
    return Promise.all(
      this.#clients.map(({ url, client }) =>
        client.postJson(path, body, timeoutMs).then(
          (reply): ReceptionAnswer => ({ url, reply }),
          (error: unknown): ReceptionAnswer => ({ url, error: error instanceof Error ? error : new Error(String(error)) }),
        ),
      ),
    );
  }

  /** The reception at `url` calls itself `name` (from its reply to a load report). */
  learnName(url: string, name: string): void {
    const index = this.#clients.findIndex((c) => c.url === url);
    if (index < 0) return;
    for (const [other, i] of this.#byName) if (i === index && other !== name) this.#byName.delete(other);
    this.#byName.set(name, index);
  }

  /**
   * POSTs to one reception: the one named `to` when it is known, else the one that answered
   * last; then the others in turn while they cannot be reached or answer 502/503/504. Rejects
   * with the last error when none answers.
   */
  async postJson(path: string, body: unknown, timeoutMs: number, to?: string): Promise<ReceptionReply> {
    let lastError: Error | undefined;
    let lastReply: ReceptionReply | undefined;
    const first = (to === undefined ? undefined : this.#byName.get(to)) ?? this.#preferred;
    for (let i = 0; i < this.#clients.length; i++) {
      const index = (first + i) % this.#clients.length;
      const { client } = this.#clients[index] as { client: ReceptionClient };
      try {
        const reply = await client.postJson(path, body, timeoutMs);
        if (worthAnother(reply.status) && i < this.#clients.length - 1) {
          lastReply = reply;
          continue;
        }
        this.#preferred = index;
        return reply;
      } catch (error) {
        lastError = error instanceof Error ? error : new Error(String(error));
      }
    }
    if (lastReply !== undefined) return lastReply;
    throw lastError ?? new Error('no reception answered');
  }

  close(): void {
    for (const { client } of this.#clients) client.close();
  }
}
