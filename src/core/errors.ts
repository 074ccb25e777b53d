// The one registry of problem codes. Every refusal any Tessera server gives is one of these,
// mapped to HTTP once at the edge as RFC 9457 problem+json. docs/errors.md lists the same
// codes; test/errors-doc.test.ts keeps the two in step.

export interface ProblemSpec {
  readonly status: number;
  readonly title: string;
}

export const problems = {
  // Requests in general
  'bad-request': { status: 400, title: 'The request is malformed' },
  'invalid-json': { status: 400, title: 'The request body is not valid JSON' },
  'invalid-id': { status: 400, title: 'An identifier is not in the expected form' },
  'validation-failed': { status: 400, title: 'The request does not match the expected schema' },
  'not-found': { status: 404, title: 'No such resource' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported request media type' },
  'unauthorized': { status: 401, title: 'Missing or invalid credentials' },
  'internal': { status: 500, title: 'Internal server error' },
  'unavailable': { status: 503, title: 'A dependency is unavailable; try again' },

  // Catalogue and ordering
  'content-not-found': { status: 404, title: 'No such content item' },
  'order-not-found': { status: 404, title: 'No such order' },
  'no-server-holds-content': { status: 503, title: 'No content server currently holds this item' },
  'all-servers-busy': { status: 503, title: 'Every content server that holds this item is busy' },
  'ingest-failed': { status: 422, title: 'The content could not be ingested' },

  // Replacing the ticket of an order whose content server failed (POST /orders/{id}/ticket)
  'order-not-ticketed': { status: 409, title: 'The order holds no ticket yet' },
  'order-completed': { status: 409, title: 'The order is completed; its content was delivered' },
  'order-expired': { status: 410, title: 'The order has expired; place a new order' },
  'ticket-not-this-order': { status: 403, title: 'The permission ticket belongs to another order' },
  'ticket-superseded': { status: 409, title: 'The permission ticket has been replaced by a newer one' },
  'ticket-replacements-exhausted': { status: 409, title: 'The order has had as many replacement tickets as it may' },

  // The waiting line
  'queue-token-invalid': { status: 403, title: 'The queue token is not valid for this order' },
  'queue-place-lost': { status: 410, title: 'The place in line was lost: the client did not come back in time' },
  'queue-full': { status: 503, title: 'The waiting line is full; try again later' },
  'rate-limited': { status: 429, title: 'Too many orders from this address; slow down' },

  // Content location (the part of the ticket URL after the ticket)
  'bad-content-location': { status: 400, title: 'The content location in the URL is not valid' },

  // Permission tickets, checked by a content server
  'ticket-malformed': { status: 403, title: 'The permission ticket is malformed' },
  'ticket-unsupported': { status: 403, title: 'The permission ticket uses an unsupported format or algorithm' },
  'ticket-wrong-server': { status: 403, title: 'The permission ticket was issued for another content server' },
  'ticket-unknown-key': { status: 403, title: 'The permission ticket names a key this server does not hold' },
  'ticket-key-retired': { status: 403, title: 'The permission ticket was sealed with a key that has been retired' },
  'ticket-invalid': { status: 403, title: 'The permission ticket failed authentication' },
  'ticket-not-yet-valid': { status: 403, title: 'The permission ticket is not valid yet' },
  'ticket-expired': { status: 403, title: 'The permission ticket has expired' },
  'ticket-wrong-content': { status: 403, title: 'The permission ticket does not cover this content' },
  'ticket-wrong-client': { status: 403, title: 'The permission ticket is bound to another client address' },
  'ticket-no-notice': { status: 403, title: 'This content server received no notice of issuance for the ticket' },
  'ticket-consumed': { status: 410, title: 'The permission ticket has been used up' },
  'ticket-too-many-connections': { status: 429, title: 'Too many parallel connections use this ticket' },
  'range-not-satisfiable': { status: 416, title: 'The requested range is not satisfiable' },

  // Control channel
  'slots-full': { status: 409, title: 'The content server has no free slot' },
  'content-missing': { status: 409, title: 'The content server does not hold this item' },
  'notice-conflict': { status: 409, title: 'A notice for this ticket already exists' },

  // Operating the content servers
  'server-not-found': { status: 404, title: 'No content server by this name has reported to this reception' },
} as const satisfies Record<string, ProblemSpec>;

export type ProblemCode = keyof typeof problems;

export function isProblemCode(value: string): value is ProblemCode {
  return Object.hasOwn(problems, value);
}

/** A refusal with a stable code. Thrown by core and adapters; turned into problem+json at the edge. */
export class TesseraError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;

  /** `options.cause`: what went wrong underneath, for the log only (never in the answer). */
  constructor(code: ProblemCode, detail?: string, extra: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(detail ?? problems[code].title, options);
    this.name = 'TesseraError';
    this.code = code;
    this.status = problems[code].status;
    this.extra = extra;
  }
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export const PROBLEM_TYPE_BASE = 'https://tessera.invalid/problems/';

export function problemDocument(
  code: ProblemCode,
  detail?: string,
  extra: Readonly<Record<string, unknown>> = {},
  instance?: string,
): ProblemDocument {
  const spec = problems[code];
  const doc: ProblemDocument = {
    ...extra,
    type: PROBLEM_TYPE_BASE + code,
    title: spec.title,
    status: spec.status,
    code,
  };
  if (detail !== undefined && detail !== spec.title) doc.detail = detail;
  if (instance !== undefined) doc.instance = instance;
  return doc;
}

export function problemFromError(error: TesseraError, instance?: string): ProblemDocument {
  return problemDocument(error.code, error.message, error.extra, instance);
}
