import type { ProblemCode } from '../core/errors.js';

// Every failure the client library reports is a TesseraClientError with a stable `code`.
// Refusals from a server carry the server's problem+json (its code comes from the server's
// registry, src/core/errors.ts). Failures found on this side (the network, a bad response,
// a corrupt download) use the client codes below and `status` 0, so a caller can switch on
// `code` alone without caring where the failure happened.

export const clientFailures = {
  'connection-failed': 'The server could not be reached or dropped the connection',
  'bad-response': 'The server answered with something this client does not understand',
  'size-mismatch': 'The downloaded file does not have the expected size',
  'sha256-mismatch': 'The downloaded file does not have the expected SHA-256',
} as const;

export type ClientFailureCode = keyof typeof clientFailures;

/** The codes a caller can expect; a newer server may still send one not listed here. */
export type KnownCode = ProblemCode | ClientFailureCode;

/** An RFC 9457 problem document as received (extensions included). */
export interface ProblemBody {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly code?: string;
  readonly detail?: string;
  readonly [extension: string]: unknown;
}

/**
 * Where an interrupted download stands, so another call (possibly with a fresh ticket) can
 * continue from the same part file. `etag` is the validator of the bytes already on disk.
 */
export interface ResumeState {
  readonly partFile: string;
  readonly bytes: number;
  readonly etag?: string | undefined;
}

export interface TesseraClientErrorInit {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail?: string | undefined;
  readonly retryAfterS?: number | undefined;
  readonly problem?: ProblemBody | undefined;
  readonly resume?: ResumeState | undefined;
  readonly cause?: unknown;
}

export class TesseraClientError extends Error {
  /** The HTTP status of the refusal; 0 when the failure was found on this side. */
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** Seconds the server asked us to wait (Retry-After header or `retryAfterS` extension). */
  readonly retryAfterS: number | undefined;
  /** The whole problem document, when the server sent one. */
  readonly problem: ProblemBody | undefined;
  /** Set on download failures: what is on disk, for a later resume. */
  readonly resume: ResumeState | undefined;

  constructor(init: TesseraClientErrorInit) {
    // The message never carries a URL: ticket URLs are bearer credentials.
    super(`${init.detail ?? init.title} (${init.code})`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'TesseraClientError';
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.detail = init.detail;
    this.retryAfterS = init.retryAfterS;
    this.problem = init.problem;
    this.resume = init.resume;
  }

  /** A copy that also records where the download stands. */
  withResume(resume: ResumeState): TesseraClientError {
    return new TesseraClientError({
      status: this.status,
      code: this.code,
      title: this.title,
      detail: this.detail,
      retryAfterS: this.retryAfterS,
      problem: this.problem,
      resume,
      cause: this.cause,
    });
  }

  static local(code: ClientFailureCode, detail?: string, extra: { resume?: ResumeState; cause?: unknown } = {}): TesseraClientError {
    return new TesseraClientError({ status: 0, code, title: clientFailures[code], detail, ...extra });
  }
}

export function isTesseraClientError(value: unknown, code?: KnownCode): value is TesseraClientError {
  return value instanceof TesseraClientError && (code === undefined || value.code === code);
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/**
 * Turns a refusal into a TesseraClientError. `body` is the raw response text; a body that is
 * not a problem document still yields an error, coded `http-<status>`.
 */
export function errorFromResponse(
  status: number,
  statusText: string,
  headers: { contentType: string | undefined; retryAfter: string | undefined },
  body: string,
  nowMs: number,
): TesseraClientError {
  let problem: ProblemBody | undefined;
  if (headers.contentType !== undefined && /^application\/(problem\+)?json\b/i.test(headers.contentType)) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) problem = parsed as ProblemBody;
    } catch {
      problem = undefined;
    }
  }
  const code = typeof problem?.code === 'string' ? problem.code : `http-${status}`;
  const title = typeof problem?.title === 'string' ? problem.title : statusText || `HTTP ${status}`;
  const detail = typeof problem?.detail === 'string' ? problem.detail : undefined;
  const extension = problem?.['retryAfterS'];
  const retryAfterS =
    typeof extension === 'number' && Number.isFinite(extension) && extension >= 0
      ? extension
      : parseRetryAfter(headers.retryAfter, nowMs);
  return new TesseraClientError({ status, code, title, detail, retryAfterS, problem });
}
