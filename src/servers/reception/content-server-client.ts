import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { controlToken } from '../../core/ticket/ticket-keys.js';
import { CONTROL_PATHS, type LoadReportReply, type Notice, type NoticeAccepted } from '../../core/control/messages.js';
import { isProblemCode, type ProblemCode } from '../../core/errors.js';
import type { ContentRecord } from '../../ports/persistence.js';
import type { ControlChannel, ControlRequest } from '../../ports/control-channel.js';

// The reception's side of the control channel to content servers: notices of issuance (which
// are the allocation check), their withdrawal, server settings, and replica placement. Notices,
// withdrawals and settings go over the shared control channel when there is one that crosses
// processes (Redis, docs/scale-out.md), over HTTP to the server's control URL otherwise;
// replicas always go over HTTP (a stream of bytes, not a message).

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

  readonly #channel: ControlChannel | undefined;

  /** `channel`: used only when it crosses processes (the in-process adapter reaches nobody). */
  constructor(rootSecret: Buffer, timeoutMs = 2000, channel?: ControlChannel) {
    this.#root = rootSecret;
    this.#timeoutMs = timeoutMs;
    this.#channel = channel?.capabilities.crossProcess ? channel : undefined;
  }

  /** True when notices and settings travel on the shared channel rather than HTTP. */
  get overChannel(): boolean {
    return this.#channel !== undefined;
  }

  /**
   * Sends a server its settings (key set, drain) over the shared channel: what the reply to a
   * load report carries on HTTP. False when it was not answered `done`.
   */
  async sendSettings(serverId: string, settings: LoadReportReply): Promise<boolean> {
    if (this.#channel === undefined) return false;
    const answer = await this.#channel.request(serverId, { kind: 'server-settings', settings }, this.#timeoutMs);
    return answer.kind === 'done';
  }

  async sendNotice(serverId: string, controlUrl: string, notice: Notice): Promise<NoticeOutcome> {
    if (this.#channel !== undefined) return this.#noticeOverChannel(serverId, { kind: 'notice', notice });
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

  async #noticeOverChannel(serverId: string, request: ControlRequest): Promise<NoticeOutcome> {
    const channel = this.#channel as ControlChannel;
    let answer;
    try {
      answer = await channel.request(serverId, request, this.#timeoutMs);
    } catch (error) {
      return { kind: 'refused', code: 'unavailable', detail: error instanceof Error ? error.message : String(error) };
    }
    switch (answer.kind) {
      case 'notice-accepted':
        return { kind: 'accepted', accepted: answer.accepted };
      case 'refused':
        return { kind: 'refused', code: answer.code, detail: answer.detail };
      case 'unanswered':
        // As a network error on HTTP: the next server is tried. A notice that timed out may still
        // hold a slot there; it is released at its hold deadline.
        return { kind: 'refused', code: 'unavailable', detail: `no answer from ${serverId} (${answer.reason})` };
      default:
        return { kind: 'refused', code: 'unexpected', detail: `unexpected answer ${answer.kind}` };
    }
  }

  async withdrawNotice(serverId: string, controlUrl: string, ticketId: string): Promise<void> {
    if (this.#channel !== undefined) {
      await this.#channel.request(serverId, { kind: 'withdraw-notice', ticketId }, this.#timeoutMs).catch(() => undefined);
      return;
    }
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
