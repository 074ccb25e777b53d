import type { IncomingMessage } from 'node:http';
import type { ProblemCode } from '../../core/errors.js';
import { redactUrl } from '../../observability/logger.js';
import type { ContentServerContext } from './context.js';

// One access-log line per request on the data plane. The URL goes through redactUrl: a ticket
// URL is a bearer credential and never reaches a log line.

export function logRequest(ctx: ContentServerContext, req: IncomingMessage, status: number, bytes: number, code?: ProblemCode): void {
  if (!ctx.logger.isLevelEnabled('info')) return;
  ctx.logger.info(
    { method: req.method, url: redactUrl(req.url ?? ''), status, bytes, code, remote: req.socket.remoteAddress },
    'request',
  );
}
