import { request, type Agent } from 'node:http';

// Fetches a permission ticket URL from a chosen loopback address and throws the bytes away,
// counting them: two thousand clients writing and hashing files would measure the disk, not
// the waiting line. The length is checked against the catalogue's size; the client library's
// SHA-256-verified download is tested elsewhere (test/waiting-crowd.e2e.test.ts).
//
// With `agent: false` the connection closes when the body ends (as curl, or `tessera get`, which
// exits); with a keep-alive agent it stays open (a browser, a long-lived program). The content
// server frees the slot differently in the two cases (src/servers/content/delivery-evidence.ts).

export interface DiscardedDownload {
  readonly startAt: number;
  readonly firstByteAt: number;
  readonly endAt: number;
  readonly bytes: number;
}

export function discardDownload(
  url: string,
  agent: Agent | false,
  localAddress: string,
  expectedBytes: number,
  idleTimeoutMs: number,
  signal?: AbortSignal,
): Promise<DiscardedDownload> {
  return new Promise((resolve, reject) => {
    const startAt = Date.now();
    let firstByteAt = 0;
    let bytes = 0;
    const req = request(url, { method: 'GET', agent, localAddress, headers: { 'user-agent': 'tessera-bench-crowd' } });
    const onAbort = (): void => {
      req.destroy(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (error: Error): void => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    };
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no byte for ${idleTimeoutMs} ms`)));
    req.once('error', fail);
    req.once('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(new Error(`download answered ${res.statusCode ?? 0}`));
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) firstByteAt = Date.now();
        bytes += chunk.length;
      });
      res.once('error', fail);
      res.once('end', () => {
        signal?.removeEventListener('abort', onAbort);
        if (bytes !== expectedBytes) {
          reject(new Error(`download brought ${bytes} bytes, expected ${expectedBytes}`));
          return;
        }
        resolve({ startAt, firstByteAt, endAt: Date.now(), bytes });
      });
    });
    req.end();
  });
}
