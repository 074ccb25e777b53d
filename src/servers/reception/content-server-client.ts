import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { controlToken } from '../../core/ticket/ticket-keys.js';
import { CONTROL_PATHS, type Notice, type NoticeAccepted } from '../../core/control/messages.js';
import { isProblemCode, type ProblemCode } from '../../core/errors.js';
import type { ContentRecord } from '../../ports/persistence.js';

// The reception's side of the control channel to content servers: notices of issuance (which
// are the allocation check), their withdrawal, and replica placement.

export type NoticeOutcome =
  | { readonly kind: 'accepted'; readonly accepted: NoticeAccepted }
  | { readonly kind: 'refused'; readonly code: ProblemCode | 'unexpected'; readonly detail: string };

interface RawResponse {
  readonly status: number;
  readonly body: string;
}

export class ContentServerClient {
  readonly #root: Buffer;
  readonly #timeoutMs: number;

  constructor(rootSecret: Buffer, timeoutMs = 2000) {
    this.#root = rootSecret;
    this.#timeoutMs = timeoutMs;
  }

  async sendNotice(serverId: string, controlUrl: string, notice: Notice): Promise<NoticeOutcome> {
    let response: RawResponse;
    try {
      response = await this.#call(serverId, 'POST', controlUrl + CONTROL_PATHS.notices, { text: JSON.stringify(notice) }, {
        'content-type': 'application/json',
      });
    } catch (error) {
      return { kind: 'refused', code: 'unavailable', detail: error instanceof Error ? error.message : String(error) };
    }
    if (response.status === 201 || response.status === 200) {
      return { kind: 'accepted', accepted: JSON.parse(response.body) as NoticeAccepted };
    }
    return { kind: 'refused', ...problemCodeOf(response) };
  }

  async withdrawNotice(serverId: string, controlUrl: string, ticketId: string): Promise<void> {
    await this.#call(serverId, 'DELETE', `${controlUrl}${CONTROL_PATHS.notices}/${ticketId}`, {}, {}).catch(() => undefined);
  }

  /** Streams a catalogue file to a content server as a replica. Resolves on 200/201, rejects otherwise. */
  async placeReplica(serverId: string, controlUrl: string, content: ContentRecord, path: string): Promise<void> {
    const response = await this.#call(serverId, 'PUT', `${controlUrl}${CONTROL_PATHS.replicas}/${content.id}`, { file: path }, {
      'content-type': content.mimeType,
      'content-length': String(content.size),
      'x-tessera-sha256': content.sha256,
      'x-tessera-size': String(content.size),
      'x-tessera-file-name': encodeURIComponent(content.fileName),
    }, 600_000);
    if (response.status !== 200 && response.status !== 201) {
      const { code, detail } = problemCodeOf(response);
      throw new Error(`replica of ${content.id} refused by ${serverId}: ${code} ${detail}`);
    }
  }

  #call(
    serverId: string,
    method: string,
    url: string,
    body: { readonly text?: string; readonly file?: string },
    headers: Record<string, string>,
    timeoutMs = this.#timeoutMs,
  ): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method,
        headers: {
          ...headers,
          authorization: `Bearer ${controlToken(this.#root, serverId)}`,
          ...(body.text !== undefined ? { 'content-length': String(Buffer.byteLength(body.text)) } : {}),
        },
        timeout: timeoutMs,
      });
      req.once('timeout', () => req.destroy(new Error(`control call to ${serverId} timed out`)));
      req.once('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.once('error', reject);
      });
      if (body.file !== undefined) {
        const file = createReadStream(body.file, { highWaterMark: 1024 * 1024 });
        file.once('error', (e) => req.destroy(e));
        file.pipe(req);
      } else {
        req.end(body.text);
      }
    });
  }
}

function problemCodeOf(response: RawResponse): { code: ProblemCode | 'unexpected'; detail: string } {
  try {
    const doc = JSON.parse(response.body) as { code?: unknown; detail?: unknown; title?: unknown };
    const code = typeof doc.code === 'string' && isProblemCode(doc.code) ? doc.code : 'unexpected';
    return { code, detail: String(doc.detail ?? doc.title ?? response.status) };
  } catch {
    return { code: 'unexpected', detail: `HTTP ${response.status}` };
  }
}
