import { ORDER_STATES, type OrderState } from '../core/order.js';
import type { Content, LinePlace, OrderPlaced, OrderStatus, PlacedOrder, TicketGrant } from './reception-types.js';
import { TesseraClientError } from './tessera-client-error.js';

// Checks that a reception's answer has the fields the contract promises, so a caller never
// holds an object whose types lie. Extra fields are allowed (a newer reception may add some).

type Json = Readonly<Record<string, unknown>>;

function fail(where: string, what: string): never {
  throw TesseraClientError.local('bad-response', `${where}: ${what}`);
}

function object(value: unknown, where: string): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(where, 'not a JSON object');
  return value as Json;
}

function string(o: Json, key: string, where: string): string {
  const value = o[key];
  if (typeof value !== 'string') fail(where, `${key} is not a string`);
  return value;
}

function nonNegativeInteger(o: Json, key: string, where: string): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(where, `${key} is not a non-negative integer`);
  return value;
}

function orderState(o: Json, key: string, where: string): OrderState {
  const value = o[key];
  if (!(ORDER_STATES as readonly unknown[]).includes(value)) fail(where, `${key} is not an order state`);
  return value as OrderState;
}

export function decodeContent(value: unknown, where = 'content'): Content {
  const o = object(value, where);
  const sha256 = string(o, 'sha256', where);
  if (!/^[0-9a-f]{64}$/i.test(sha256)) fail(where, 'sha256 is not 64 hex digits');
  return {
    id: string(o, 'id', where),
    title: string(o, 'title', where),
    fileName: string(o, 'fileName', where),
    mimeType: string(o, 'mimeType', where),
    size: nonNegativeInteger(o, 'size', where),
    sha256: sha256.toLowerCase(),
    createdAt: string(o, 'createdAt', where),
  };
}

export function decodeContentList(value: unknown): Content[] {
  const o = object(value, 'content list');
  const items = o['items'];
  if (!Array.isArray(items)) fail('content list', 'items is not an array');
  return items.map((item, i) => decodeContent(item, `content list item ${i}`));
}

function decodeTicket(value: unknown): TicketGrant {
  const where = 'ticket';
  const o = object(value, where);
  const url = string(o, 'url', where);
  // Checked here so a malformed URL fails at the order, with a message that does not echo it.
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(where, 'url is not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(where, 'url is not http(s)');
  return {
    url,
    serverId: string(o, 'serverId', where),
    notBefore: string(o, 'notBefore', where),
    expiresAt: string(o, 'expiresAt', where),
    maxConnections: nonNegativeInteger(o, 'maxConnections', where),
  };
}

function decodePlacedOrder(value: unknown): PlacedOrder {
  const where = 'order';
  const o = object(value, where);
  return {
    id: string(o, 'id', where),
    state: orderState(o, 'state', where),
    contentId: string(o, 'contentId', where),
    createdAt: string(o, 'createdAt', where),
  };
}

export function decodeOrderPlaced(value: unknown): OrderPlaced {
  const o = object(value, 'order placed');
  return { order: decodePlacedOrder(o['order']), ticket: decodeTicket(o['ticket']), content: decodeContent(o['content']) };
}

export function decodeOrderStatus(value: unknown): OrderStatus {
  const where = 'order status';
  const o = object(value, where);
  const serverId = o['serverId'];
  if (serverId !== null && serverId !== undefined && typeof serverId !== 'string') fail(where, 'serverId is not a string');
  return {
    id: string(o, 'id', where),
    state: orderState(o, 'state', where),
    contentId: string(o, 'contentId', where),
    serverId: serverId ?? null,
    createdAt: string(o, 'createdAt', where),
    updatedAt: string(o, 'updatedAt', where),
    bytesDelivered: nonNegativeInteger(o, 'bytesDelivered', where),
  };
}

function optionalNumber(value: unknown, min: number): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= min ? value : undefined;
}

function optionalInteger(value: unknown, min: number): number | undefined {
  return Number.isSafeInteger(value) && (value as number) >= min ? (value as number) : undefined;
}

/**
 * The place in line a refusal holds, or undefined when it holds none (any refusal but a 503
 * with a queue token: queue-full, no-server-holds-content, a reception without a line, ...).
 */
export function linePlaceOf(error: unknown): LinePlace | undefined {
  if (!(error instanceof TesseraClientError) || error.status !== 503 || error.problem === undefined) return undefined;
  const p = error.problem;
  const token = p['queueToken'];
  if (typeof token !== 'string' || token === '') return undefined;
  const retryAt = p['retry_at'];
  return {
    queueToken: token,
    orderId: typeof p['orderId'] === 'string' ? p['orderId'] : undefined,
    position: optionalInteger(p['position'], 1),
    lineLength: optionalInteger(p['lineLength'], 0),
    estimatedWaitS: optionalNumber(p['estimated_wait_s'], 0),
    retryAt: typeof retryAt === 'string' && !Number.isNaN(Date.parse(retryAt)) ? retryAt : undefined,
    retryAfterS: error.retryAfterS,
  };
}
