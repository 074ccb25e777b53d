import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { sendProblem } from '../../http/problem.js';
import type { ContentServerContext } from './context.js';
import { sendJson } from './control-plane.js';
import { contentServerOpenApi } from './openapi.js';
import { handleTicketRequest } from './ticket-request.js';

// The public listener, on raw node:http because it is the hot path: a ticket URL goes straight
// to handleTicketRequest after two character comparisons; the few other paths are fixed.

export function createPublicHandler(
  ctx: ContentServerContext,
  registry: Registry,
): (req: IncomingMessage, res: ServerResponse) => void {
  const openApiText = JSON.stringify(contentServerOpenApi);

  function other(req: IncomingMessage, res: ServerResponse, url: string): void {
    const path = url.split('?', 1)[0];
    if (path !== '/healthz' && path !== '/metrics' && path !== '/openapi.json') {
      sendProblem(res, 'not-found');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(res, 'method-not-allowed', { headers: { allow: 'GET, HEAD' } });
      return;
    }
    if (path === '/healthz') {
      sendJson(res, 200, { status: ctx.draining ? 'draining' : 'ok', serverId: ctx.config.serverId, keys: ctx.keys.size });
    } else if (path === '/openapi.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(openApiText) });
      res.end(openApiText);
    } else {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        },
        (error: unknown) => {
          ctx.logger.error({ err: error }, 'cannot render metrics');
          sendProblem(res, 'internal');
        },
      );
    }
  }

  return (req, res) => {
    const url = req.url ?? '/';
    // A new request on a connection means the client read the previous answer on it.
    ctx.evidence.requestArrived(req.socket);
    try {
      // "/t/"
      if (url.charCodeAt(0) === 47 && url.charCodeAt(1) === 116 && url.charCodeAt(2) === 47) {
        handleTicketRequest(ctx, req, res, url);
      } else {
        other(req, res, url);
      }
    } catch (error) {
      ctx.logger.error({ err: error }, 'public request failed');
      if (!res.headersSent) sendProblem(res, 'internal', { close: true });
      else res.destroy();
    }
  };
}
