import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problemDocument, TesseraError, type ProblemCode } from '../../core/errors.js';
import type { Logger } from '../../observability/logger.js';
import { PROBLEM_JSON } from '../../http/problem.js';

// Maps every error to problem+json once, at the edge. Fastify's own errors (bad JSON, body too
// large, schema validation) get stable Tessera codes too.

function codeForFastifyError(error: FastifyError): ProblemCode {
  if (error.validation) return 'validation-failed';
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'invalid-json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'payload-too-large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported-media-type' : 'bad-request';
    default:
      break;
  }
  if (error instanceof SyntaxError) return 'invalid-json';
  const status = error.statusCode ?? 500;
  if (status === 404) return 'not-found';
  if (status === 405) return 'method-not-allowed';
  if (status === 413) return 'payload-too-large';
  if (status === 415) return 'unsupported-media-type';
  if (status >= 400 && status < 500) return 'bad-request';
  return 'internal';
}

export function sendProblemReply(reply: FastifyReply, code: ProblemCode, detail?: string, extra: Record<string, unknown> = {}): FastifyReply {
  const doc = problemDocument(code, detail, extra);
  const retryAfter = extra['retryAfterS'];
  if (typeof retryAfter === 'number') void reply.header('retry-after', String(Math.max(0, Math.ceil(retryAfter))));
  return reply.code(doc.status).header('content-type', PROBLEM_JSON).header('cache-control', 'no-store').send(JSON.stringify(doc));
}

/** During an outage every request fails the same way: one log line per this many ms, with a count. */
const CAUSE_LOG_GAP_MS = 5000;

export function installProblemHandlers(app: FastifyInstance, logger: Logger): void {
  let causeLoggedAt = -Infinity;
  let causesUnlogged = 0;
  app.setErrorHandler((error: FastifyError | TesseraError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof TesseraError) {
      // A 5xx with a cause (the database refused, say): the client gets the problem, the log the cause.
      if (error.status >= 500 && error.cause !== undefined) {
        const now = Date.now();
        if (now - causeLoggedAt >= CAUSE_LOG_GAP_MS) {
          logger.warn({ err: error.cause, code: error.code, route: request.routeOptions.url, alike: causesUnlogged }, `answered ${error.code}; the cause`);
          causeLoggedAt = now;
          causesUnlogged = 0;
        } else causesUnlogged++;
      }
      return sendProblemReply(reply, error.code, error.message, { ...error.extra });
    }
    const code = codeForFastifyError(error);
    if (code === 'internal') logger.error({ err: error, method: request.method, route: request.routeOptions.url }, 'unhandled error');
    // Internal details stay in the log, never in the answer.
    const detail = code === 'internal' ? undefined : error.message;
    return sendProblemReply(reply, code, detail);
  });
  app.setNotFoundHandler((request, reply) => sendProblemReply(reply, 'not-found', `no route for ${request.method} ${request.url.split('?')[0]}`));
}
