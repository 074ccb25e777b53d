import { request, type Agent, type OutgoingHttpHeaders } from 'node:http';
import type { FetchFunction } from '../../src/client/index.js';

// A fetch for the client library that sends from a chosen loopback address (127.0.x.y), so that
// each simulated client is its own address to the reception and its per-address rate limit
// stays what it is in production. Node's fetch cannot bind a source address without undici's
// Agent (not a dependency here); node:http can. Only what ReceptionClient uses is supported:
// a string or URL, a method, plain headers, a string body, a signal.

/** Called with every complete answer, before the client library sees it. */
export type AnswerHook = (status: number, body: string, at: number) => void;

export function loopbackFetch(localAddress: string, agent: Agent, onAnswer?: AnswerHook): FetchFunction {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const signal = init?.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const headers: OutgoingHttpHeaders = {};
      new Headers(init?.headers).forEach((value, key) => {
        headers[key] = value;
      });
      const body = init?.body;
      if (body !== undefined && body !== null && typeof body !== 'string') throw new TypeError('loopbackFetch sends string bodies only');
      if (typeof body === 'string') headers['content-length'] = Buffer.byteLength(body);
      const req = request(url, { method: init?.method ?? 'GET', headers, agent, localAddress });
      const onAbort = (): void => {
        req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const fail = (error: unknown): void => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };
      req.once('error', fail);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', fail);
        res.once('end', () => {
          signal?.removeEventListener('abort', onAbort);
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          onAnswer?.(status, text, Date.now());
          const responseHeaders = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(key, v);
          }
          const nullBody = status === 204 || status === 205 || status === 304;
          resolve(new Response(nullBody ? null : text, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
        });
      });
      req.end(typeof body === 'string' ? body : undefined);
    });
}
