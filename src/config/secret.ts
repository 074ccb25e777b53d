import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from './env.js';

// The root secret: only receptions hold it. Every ticket key, control token and admin token is
// derived from it (src/core/ticket/ticket-keys.ts). It comes from TESSERA_SECRET (base64url of
// 32 bytes) or from a file that `tessera up` creates with mode 0600 on first start.

export function decodeRootSecret(text: string, source: string): Buffer {
  const bytes = Buffer.from(text.trim(), 'base64url');
  if (bytes.length < 32) throw new ConfigError(source, 'the root secret must be at least 32 bytes, base64url-encoded');
  return bytes;
}

export function loadRootSecret(env: NodeJS.ProcessEnv, defaultFile: string): Buffer {
  const inline = env['TESSERA_SECRET'];
  if (inline) return decodeRootSecret(inline, 'TESSERA_SECRET');
  const file = env['TESSERA_SECRET_FILE'] ?? defaultFile;
  if (!existsSync(file)) throw new ConfigError('TESSERA_SECRET_FILE', `${file} does not exist (tessera up creates it)`);
  return decodeRootSecret(readFileSync(file, 'utf8'), file);
}

/** Creates the secret file if it is missing; returns the secret either way. */
export function ensureRootSecretFile(file: string): Buffer {
  if (existsSync(file)) return decodeRootSecret(readFileSync(file, 'utf8'), file);
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(32);
  writeFileSync(file, secret.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return secret;
}
