import * as assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { createLogger } from '../../observability/logger.js';
import { installProblemHandlers } from './http-errors.js';
import { unavailableOnFailure } from './ordering.js';

// What a failure underneath a route becomes: the client gets a stable problem, the log gets the
// cause. A database failure is a 503 with Retry-After; a programming error is not dressed up as
// one (500, logged as unhandled).

function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ name: 'test', level: 'info', destination });
  const lines = (): Record<string, unknown>[] =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines };
}

describe('problem handlers and unavailableOnFailure', () => {
  it('answers 503 unavailable for a database failure, and logs its cause once per burst', async () => {
    const { logger, lines } = capturedLogger();
    const app = Fastify();
    installProblemHandlers(app, logger);
    app.get('/orders/:id', async () => unavailableOnFailure(async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'))));
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await app.inject({ method: 'GET', url: '/orders/o-1' });
        assert.equal(answer.statusCode, 503);
        assert.equal(answer.headers['retry-after'], '5');
        const body = answer.json<{ code: string; detail: string }>();
        assert.equal(body.code, 'unavailable');
        assert.doesNotMatch(answer.body, /ECONNREFUSED/, 'the cause stays out of the answer');
      }
      const logged = lines().filter((l) => l['code'] === 'unavailable');
      assert.equal(logged.length, 1, 'three alike failures in a burst: one line');
      const err = logged[0]?.['err'] as { message?: string } | undefined;
      assert.match(err?.message ?? '', /ECONNREFUSED/);
      assert.equal(logged[0]?.['route'], '/orders/:id');
    } finally {
      await app.close();
    }
  });

  it('leaves a programming error a 500, logged as unhandled', async () => {
    const { logger, lines } = capturedLogger();
    const app = Fastify();
    installProblemHandlers(app, logger);
    app.get('/broken', async () =>
      unavailableOnFailure(async () => {
        const missing = undefined as unknown as { field: number };
        return missing.field;
      }),
    );
    try {
      const answer = await app.inject({ method: 'GET', url: '/broken' });
      assert.equal(answer.statusCode, 500);
      assert.equal(answer.json<{ code: string }>().code, 'internal');
      assert.doesNotMatch(answer.body, /field/, 'internal details stay in the log');
      const logged = lines().filter((l) => l['msg'] === 'unhandled error');
      assert.equal(logged.length, 1);
      assert.equal((logged[0]?.['err'] as { type?: string }).type, 'TypeError');
    } finally {
      await app.close();
    }
  });
});
