import { ReceptionClient, type ReceptionReply } from './reception-client.js';

// A content server may serve several receptions (issue 4: several receptions share the public
// entry; each keeps its own view of the servers' load). Each reception must see every load
// report, so reports go to all of them at once. A completion needs to reach only one: they
// share the order store, and any of them records it. So completions go to the reception that
// last answered, and to the next one in the list when that one cannot be reached.

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

  /**
   * POSTs to one reception: the one that answered last, then the others in turn while they
   * cannot be reached or answer 502/503/504. Rejects with the last error when none answers.
   */
  async postJson(path: string, body: unknown, timeoutMs: number): Promise<ReceptionReply> {
    let lastError: Error | undefined;
    let lastReply: ReceptionReply | undefined;
    for (let i = 0; i < this.#clients.length; i++) {
      const index = (this.#preferred + i) % this.#clients.length;
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
