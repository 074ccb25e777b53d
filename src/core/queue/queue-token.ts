import { createHmac, timingSafeEqual } from 'node:crypto';
import { TesseraError } from '../errors.js';
import { bytesToUuid, uuidToBytes } from '../ids.js';
import { decodeStrictBase64url } from '../ticket/ticket.js';

// The queue token a waiting client brings back to keep its place. It records the order and its
// arrival number, and is MACed with a key only receptions hold, so a client can neither move
// itself forward nor take another client's place. Layout (then HMAC-SHA256, truncated to 16
// bytes, appended; the whole base64url):
//   u8 version 0x01 | 16 order ID | 16 content ID | u64 arrival number | u64 issued at (Unix ms)

const VERSION = 0x01;
const BODY = 1 + 16 + 16 + 8 + 8;
const MAC = 16;

export interface QueueClaims {
  readonly orderId: string;
  readonly contentId: string;
  readonly seq: number;
  readonly issuedAt: number;
}

export function signQueueToken(claims: QueueClaims, key: Buffer): string {
  const body = Buffer.alloc(BODY);
  body[0] = VERSION;
  uuidToBytes(claims.orderId, body, 1);
  uuidToBytes(claims.contentId, body, 17);
  body.writeBigUInt64BE(BigInt(claims.seq), 33);
  body.writeBigUInt64BE(BigInt(claims.issuedAt), 41);
  return Buffer.concat([body, mac(body, key)]).toString('base64url');
}

export function verifyQueueToken(text: string, key: Buffer): QueueClaims {
  const bytes = text.length <= 200 ? decodeStrictBase64url(text) : undefined;
  if (!bytes || bytes.length !== BODY + MAC || bytes[0] !== VERSION) throw new TesseraError('queue-token-invalid');
  const body = bytes.subarray(0, BODY);
  if (!timingSafeEqual(mac(body, key), bytes.subarray(BODY))) throw new TesseraError('queue-token-invalid');
  return {
    orderId: bytesToUuid(body, 1),
    contentId: bytesToUuid(body, 17),
    seq: Number(body.readBigUInt64BE(33)),
    issuedAt: Number(body.readBigUInt64BE(41)),
  };
}

function mac(body: Buffer, key: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest().subarray(0, MAC);
}
