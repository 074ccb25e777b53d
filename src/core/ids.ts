import { randomUUID } from 'node:crypto';

// Every identifier Tessera mints is a lowercase UUID (v4). Content server IDs are chosen by
// operators and follow SERVER_ID_PATTERN so they fit in a URL path, a ticket header and a
// metric label without escaping.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const SERVER_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

export function newId(): string {
  return randomUUID();
}

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function isServerId(value: unknown): value is string {
  return typeof value === 'string' && SERVER_ID_PATTERN.test(value);
}

export function uuidToBytes(id: string, into: Buffer, offset: number): void {
  if (!UUID.test(id)) throw new TypeError(`not a lowercase UUID: ${id}`);
  into.write(id.replaceAll('-', ''), offset, 16, 'hex');
}

export function bytesToUuid(from: Buffer, offset: number): string {
  const hex = from.toString('hex', offset, offset + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
