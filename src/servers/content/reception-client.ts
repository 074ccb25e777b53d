import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

// The content server's side of the control channel towards the reception: JSON POSTs with the
// server's bearer token over kept-alive connections. The token is only ever put in the
// Authorization header.

export interface ReceptionReply {
  readonly status: number;
  readonly body: unknown;
}

export class ReceptionClient {
  readonly #base: URL;
  readonly #token: string;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;

  constructor(baseUrl: string, token: string) {
    this.#base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    this.#token = token;
    const https = this.#base.protocol === 'https:';
    this.#agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 16 }) : new HttpAgent({ keepAlive: true, maxSockets: 16 });
    this.#request = https ? httpsRequest : httpRequest;
  }

  /** POSTs JSON to a path like /control/load-reports; rejects on network errors and timeouts. */
  postJson(path: string, body: unknown, timeoutMs: number): Promise<ReceptionReply> {
    const payload = Buffer.from(JSON.stringify(body));
    const url = new URL(path.replace(/^\//, ''), this.#base);
    return new Promise((resolve, reject) => {
      const req = this.#request(url, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          'content-type': 'application/json',
          'content-length': payload.length,
          accept: 'application/json',
          authorization: `Bearer ${this.#token}`,
        },
        timeout: timeoutMs,
      });
      req.once('timeout', () => req.destroy(new Error(`no answer from the reception within ${timeoutMs} ms`)));
      req.once('error', reject);
      req.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > 1024 * 1024) res.destroy(new Error('reply from the reception is too large'));
          else chunks.push(chunk);
        });
        res.once('error', reject);
        res.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = undefined;
          if (text.length > 0 && /json/i.test(res.headers['content-type'] ?? '')) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
