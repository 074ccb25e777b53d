import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { request } from 'node:http';
import { adminToken } from '../servers/reception/control-app.js';
import { loadRootSecret } from '../config/secret.js';

// The operator's side of the reception's control listener: adding content, rotating keys,
// draining servers and reading their status.
// The admin token is derived from the root secret in the data directory (or TESSERA_ADMIN_TOKEN).

export interface AdminTarget {
  readonly controlUrl: string;
  readonly token: string;
}

export function adminTarget(env: NodeJS.ProcessEnv, options: { control?: string | undefined; data?: string | undefined }): AdminTarget {
  const controlUrl = (options.control ?? env['TESSERA_RECEPTION_CONTROL_URL'] ?? 'http://127.0.0.1:9100').replace(/\/+$/, '');
  const token = env['TESSERA_ADMIN_TOKEN'] ?? adminToken(loadRootSecret(env, `${options.data ?? env['TESSERA_DATA_DIR'] ?? './data'}/secret.key`));
  return { controlUrl, token };
}

export interface JsonResponse {
  readonly status: number;
  readonly json: Record<string, unknown>;
}

function call(target: AdminTarget, method: string, path: string, headers: Record<string, string>, body?: { file?: string; text?: string }): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const req = request(`${target.controlUrl}${path}`, { method, headers: { ...headers, authorization: `Bearer ${target.token}` } });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
        } catch {
          json = { detail: text };
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    if (body?.file !== undefined) createReadStream(body.file).once('error', (e) => req.destroy(e)).pipe(req);
    else req.end(body?.text);
  });
}

export async function addContent(target: AdminTarget, file: string, title?: string, mimeType?: string): Promise<JsonResponse> {
  const info = await stat(file);
  if (!info.isFile()) throw new Error(`${file} is not a regular file`);
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-length': String(info.size),
    'x-tessera-file-name': encodeURIComponent(basename(file)),
  };
  if (title !== undefined) headers['x-tessera-title'] = encodeURIComponent(title);
  if (mimeType !== undefined) headers['x-tessera-mime-type'] = encodeURIComponent(mimeType);
  return call(target, 'POST', '/admin/contents', headers, { file });
}

export function rotateKeys(target: AdminTarget, graceS?: number): Promise<JsonResponse> {
  const text = JSON.stringify(graceS === undefined ? {} : { graceS });
  return call(target, 'POST', '/admin/keys/rotate', { 'content-type': 'application/json' }, { text });
}

export function listServers(target: AdminTarget): Promise<JsonResponse> {
  return call(target, 'GET', '/admin/servers', {});
}

export function getServer(target: AdminTarget, serverId: string): Promise<JsonResponse> {
  return call(target, 'GET', `/admin/servers/${encodeURIComponent(serverId)}`, {});
}

/** drain: PUT, undrain: DELETE on the server's drain. */
export function setDrain(target: AdminTarget, serverId: string, drained: boolean): Promise<JsonResponse> {
  return call(target, drained ? 'PUT' : 'DELETE', `/admin/servers/${encodeURIComponent(serverId)}/drain`, {});
}

export function describeFailure(response: JsonResponse): string {
  const { code, detail, title } = response.json as { code?: string; detail?: string; title?: string };
  return `${detail ?? title ?? `HTTP ${response.status}`}${code ? ` (${code})` : ''}`;
}
