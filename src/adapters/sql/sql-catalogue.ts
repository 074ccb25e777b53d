import type { Kysely, Selectable } from 'kysely';
import type { Catalogue, ContentRecord } from '../../ports/persistence.js';
import type { ContentsTable, TesseraDatabase } from './schema.js';

function toContent(row: Selectable<ContentsTable>): ContentRecord {
  return {
    id: row.id,
    title: row.title,
    fileName: row.file_name,
    mimeType: row.mime_type,
    size: row.size,
    sha256: row.sha256,
    createdAt: row.created_at,
  };
}

export class SqlCatalogue implements Catalogue {
  readonly #db: Kysely<TesseraDatabase>;

  constructor(db: Kysely<TesseraDatabase>) {
    this.#db = db;
  }

  async addContent(content: ContentRecord): Promise<void> {
    if (!Number.isSafeInteger(content.size) || content.size < 0) throw new TypeError(`content size ${content.size} is not a byte count`);
    await this.#db
      .insertInto('contents')
      .values({
        id: content.id,
        title: content.title,
        file_name: content.fileName,
        mime_type: content.mimeType,
        size: content.size,
        sha256: content.sha256,
        created_at: content.createdAt,
      })
      .execute();
  }

  async getContent(id: string): Promise<ContentRecord | undefined> {
    const row = await this.#db.selectFrom('contents').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toContent(row);
  }

  async listContents(): Promise<readonly ContentRecord[]> {
    const rows = await this.#db.selectFrom('contents').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toContent);
  }

  async addReplica(contentId: string, serverId: string, at: number): Promise<void> {
    await this.#db
      .insertInto('content_replicas')
      .values({ content_id: contentId, server_id: serverId, placed_at: at })
      .onConflict((oc) => oc.columns(['content_id', 'server_id']).doNothing())
      .execute();
  }

  async replicaServers(contentId: string): Promise<readonly string[]> {
    const rows = await this.#db
      .selectFrom('content_replicas')
      .select('server_id')
      .where('content_id', '=', contentId)
      .orderBy('server_id')
      .execute();
    return rows.map((r) => r.server_id);
  }
}
