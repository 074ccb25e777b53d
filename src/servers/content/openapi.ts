// The content server's OpenAPI 3.1 document, written by hand because the data plane is raw
// node:http. Served at GET /openapi.json on the public listener. It describes both listeners;
// the control paths are only reachable on the loopback control port.

import { RECEPTION_ID_PATTERN } from '../../core/control/messages.js';

const problem = { $ref: '#/components/responses/Problem' } as const;
const ticketPathParams = [
  { name: 'ticket', in: 'path', required: true, description: 'Permission ticket (strict unpadded base64url, at most 200 characters)', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,200}$' } },
  { name: 'contentId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
  { name: 'fileName', in: 'path', required: true, description: 'Percent-encoded plain file name; cosmetic, the server serves by content ID', schema: { type: 'string' } },
] as const;
const contentHeaders = {
  ETag: { description: 'Strong tag: the quoted SHA-256 hex of the bytes', schema: { type: 'string' } },
  'Content-Disposition': { description: 'attachment; filename="…"; filename*=UTF-8\'\'…', schema: { type: 'string' } },
  'Accept-Ranges': { schema: { type: 'string', const: 'bytes' } },
  'Cache-Control': { schema: { type: 'string', const: 'no-store' } },
} as const;
const ticketResponses = {
  '200': { description: 'The whole item', headers: contentHeaders, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
  '206': { description: 'One range of the item (Range, honoured under If-Range only when it matches the ETag)', headers: { ...contentHeaders, 'Content-Range': { schema: { type: 'string' } } }, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
  '400': { ...problem, description: 'bad-content-location (connection closed)' },
  '403': { ...problem, description: 'ticket-malformed, ticket-unsupported, ticket-wrong-server, ticket-unknown-key, ticket-key-retired, ticket-invalid, ticket-not-yet-valid, ticket-expired, ticket-wrong-content, ticket-wrong-client, ticket-no-notice (connection closed)' },
  '404': { ...problem, description: 'content-not-found (connection closed)' },
  '405': { ...problem, description: 'method-not-allowed (connection closed)' },
  '410': { ...problem, description: 'ticket-consumed: every byte was delivered under this ticket (connection closed)' },
  '416': { ...problem, description: 'range-not-satisfiable, with Content-Range: bytes */<size> (connection kept)' },
  '429': { ...problem, description: 'ticket-too-many-connections (connection closed)' },
  '503': { ...problem, description: 'all-servers-busy: the ticket is valid but its slot was released and none is free; Retry-After (connection closed)' },
} as const;
const bearer = [{ controlToken: [] }] as const;

export const contentServerOpenApi = {
  openapi: '3.1.0',
  info: {
    title: 'Tessera content server',
    version: '1',
    description: 'Serves content against single-use permission tickets (public listener) and takes notices, replicas and status requests from the reception (control listener, loopback only, bearer token).',
  },
  paths: {
    '/t/{ticket}/{contentId}/{fileName}': {
      parameters: ticketPathParams,
      get: { summary: 'Download the item under a permission ticket', operationId: 'getContent', responses: ticketResponses },
      head: { summary: 'Headers only; takes no slot and counts nothing', operationId: 'headContent', responses: ticketResponses },
    },
    '/healthz': {
      get: {
        summary: 'Liveness',
        operationId: 'health',
        responses: {
          '200': {
            description: 'Up',
            content: { 'application/json': { schema: { type: 'object', required: ['status', 'serverId', 'keys'], properties: { status: { enum: ['ok', 'draining'] }, serverId: { type: 'string' }, keys: { type: 'integer', description: 'Ticket keys held' } } } } },
          },
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics', operationId: 'metrics', responses: { '200': { description: 'Text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { summary: 'This document', operationId: 'openapi', responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } } },
    '/control/notices': {
      post: {
        summary: 'Notice of issuance: hold a slot for a ticket (the allocation check)',
        operationId: 'postNotice',
        security: bearer,
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Notice' } } } },
        responses: {
          '201': { description: 'Slot held', content: { 'application/json': { schema: { $ref: '#/components/schemas/NoticeAccepted' } } } },
          '400': { ...problem, description: 'validation-failed, invalid-json' },
          '401': problem,
          '409': { ...problem, description: 'slots-full (extensions capacity, slotsTaken), content-missing, notice-conflict' },
          '413': problem,
          '415': problem,
        },
      },
    },
    '/control/notices/{ticketId}': {
      delete: {
        summary: 'Withdraw a notice (the reception could not record the order); the ticket is refused from then on',
        operationId: 'deleteNotice',
        security: bearer,
        parameters: [{ name: 'ticketId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: { '204': { description: 'Withdrawn, slot released' }, '400': problem, '401': problem, '404': problem },
      },
    },
    '/control/replicas': {
      get: { summary: 'Items held', operationId: 'listReplicas', security: bearer, responses: { '200': { description: 'Items', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Replica' } } } } } } }, '401': problem } },
    },
    '/control/replicas/{contentId}': {
      parameters: [{ name: 'contentId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
      get: { summary: 'One item held', operationId: 'getReplica', security: bearer, responses: { '200': { description: 'Held', content: { 'application/json': { schema: { $ref: '#/components/schemas/Replica' } } } }, '401': problem, '404': problem } },
      put: {
        summary: 'Store a replica; the bytes are verified against the declared size and SHA-256 before they are kept',
        operationId: 'putReplica',
        security: bearer,
        parameters: [
          { name: 'x-tessera-sha256', in: 'header', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
          { name: 'x-tessera-size', in: 'header', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } },
          { name: 'x-tessera-file-name', in: 'header', required: true, description: 'Percent-encoded (encodeURIComponent) original file name', schema: { type: 'string' } },
        ],
        requestBody: { required: true, description: 'The bytes; Content-Type is the item\'s media type', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          '200': { description: 'Already held with the same bytes', content: { 'application/json': { schema: { $ref: '#/components/schemas/Replica' } } } },
          '201': { description: 'Stored', content: { 'application/json': { schema: { $ref: '#/components/schemas/Replica' } } } },
          '400': { ...problem, description: 'invalid-id, validation-failed' },
          '401': problem,
          '422': { ...problem, description: 'ingest-failed: size or SHA-256 mismatch, or different bytes already held under this ID' },
        },
      },
    },
    '/control/state': {
      get: { summary: 'Snapshot of slots, tickets, keys (IDs only) and outbox', operationId: 'state', security: bearer, responses: { '200': { description: 'Snapshot', content: { 'application/json': { schema: { type: 'object' } } } }, '401': problem } },
    },
  },
  components: {
    securitySchemes: { controlToken: { type: 'http', scheme: 'bearer', description: 'controlToken(root, serverId), the same token in both directions' } },
    responses: {
      Problem: { description: 'RFC 9457 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
    },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'code'],
        properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, code: { type: 'string' }, detail: { type: 'string' } },
      },
      Notice: {
        type: 'object',
        required: ['ticketId', 'orderId', 'contentId', 'notBefore', 'expiresAt', 'holdUntil', 'maxConnections'],
        properties: {
          ticketId: { type: 'string', format: 'uuid' },
          orderId: { type: 'string', format: 'uuid' },
          contentId: { type: 'string', format: 'uuid' },
          notBefore: { type: 'integer', description: 'Unix ms' },
          expiresAt: { type: 'integer', description: 'Unix ms: the ticket\'s expiry' },
          holdUntil: { type: 'integer', description: 'Unix ms: the slot is released if no transfer has started by then' },
          maxConnections: { type: 'integer', minimum: 1, maximum: 255 },
          heldBytes: { type: 'integer', minimum: 0, description: 'Bytes the client already holds from an earlier ticket of the same order; counted as delivered' },
          issuedBy: { type: 'string', pattern: RECEPTION_ID_PATTERN.source, description: "The sending reception's name: the ticket's completion goes back to it" },
        },
      },
      NoticeAccepted: { type: 'object', required: ['ticketId', 'holdUntil'], properties: { ticketId: { type: 'string', format: 'uuid' }, holdUntil: { type: 'integer' } } },
      Replica: {
        type: 'object',
        required: ['contentId', 'fileName', 'mimeType', 'size', 'sha256', 'etag'],
        properties: {
          contentId: { type: 'string', format: 'uuid' },
          fileName: { type: 'string' },
          mimeType: { type: 'string' },
          size: { type: 'integer' },
          sha256: { type: 'string' },
          etag: { type: 'string' },
        },
      },
    },
  },
} as const;
