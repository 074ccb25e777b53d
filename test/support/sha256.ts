import { createHash } from 'node:crypto';

/** The SHA-256 of `data`, lowercase hex: what the catalogue records for an item. */
export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
