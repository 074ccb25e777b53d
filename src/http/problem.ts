import type { ServerResponse } from 'node:http';
import { problemDocument, type ProblemCode } from '../core/errors.js';

export const PROBLEM_JSON = 'application/problem+json';

/** Writes an RFC 9457 problem to a raw Node response. `close` also drops the connection (R7). */
export function sendProblem(
  res: ServerResponse,
  code: ProblemCode,
  options: { detail?: string; extra?: Record<string, unknown>; close?: boolean; headers?: Record<string, string> } = {},
): void {
  const doc = problemDocument(code, options.detail, options.extra ?? {});
  const body = JSON.stringify(doc);
  const headers: Record<string, string | number> = {
    'content-type': PROBLEM_JSON,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...options.headers,
  };
  if (options.close) headers['connection'] = 'close';
  res.writeHead(doc.status, headers);
  res.end(body);
}
