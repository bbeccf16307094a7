/**
 * Where request bodies and results too big for a queue row live. PGlite runs
 * every statement on one WASM thread, so a 30 MB bytea in `requests` stalls
 * every other query (other apps' /run calls included) for seconds; status
 * polls that read the row would drag the bytes along too. Big bodies go:
 *
 *  - PGlite: to files under `<dataDir>/payloads/<shard>/<request id>/`, one
 *    directory per request so that deleting a request is one rm;
 *  - PostgreSQL: to the `request_payloads` table, which every platform
 *    process on every host shares; the server reads big bytea on the
 *    connection that asked, without blocking the others.
 *
 * Bodies up to INLINE_BYTES stay in the row: one round trip, no file.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Db, Queryable } from "./db";

export type BodyKind = "payload" | "result";

/** Bodies up to this size stay inline in the request row. */
export const INLINE_BYTES = 64 * 1024;

export interface PayloadStore {
  /** Stores a body of a request; the ref names it for get. Written before the row that points to it. */
  put(requestId: string, kind: BodyKind, bytes: Buffer): Promise<string>;
  /** The bytes of a ref; undefined when they are gone (deleted, or lost with a disk). */
  get(ref: string): Promise<Buffer | undefined>;
  /** Deletes every body of these requests. */
  delete(requestIds: readonly string[]): Promise<void>;
  /**
   * Deletes bodies whose request row does not exist (a submit that failed
   * after put, a crash between deleting a row and its bodies), if older than
   * graceMs (a put is followed by its row's insert within milliseconds).
   * Returns how many requests' bodies went.
   */
  deleteOrphans(graceMs: number, batch: number): Promise<number>;
}

/** A body as the row keeps it: the bytes inline, or a ref and an empty inline part. */
export interface StoredBody {
  readonly inline: Buffer;
  readonly ref: string | null;
  readonly size: number;
}

/** Stores a body inline when small, in the payload store otherwise. */
export async function storeBody(store: PayloadStore, requestId: string, kind: BodyKind, bytes: Buffer): Promise<StoredBody> {
  if (bytes.length <= INLINE_BYTES) return { inline: bytes, ref: null, size: bytes.length };
  return { inline: Buffer.alloc(0), ref: await store.put(requestId, kind, bytes), size: bytes.length };
}

/** The bytes a row's body stands for: its ref's, or the inline ones. */
export async function loadBody(store: PayloadStore, inline: Uint8Array | null, ref: string | null): Promise<Buffer | undefined> {
  if (ref) return store.get(ref);
  return inline ? Buffer.from(inline) : undefined;
}

/** The store that fits the database: files next to PGlite, a table on PostgreSQL. */
export function openPayloadStore(db: Db, dataDir: string): PayloadStore {
  return db.kind === "pglite" ? new FilePayloadStore(join(dataDir, "payloads"), db) : new TablePayloadStore(db);
}

const FILE_REF = "file:";
const TABLE_REF = "pg:";
/** Request ids are UUIDs (and anything else without path separators). */
const SAFE_ID = /^[A-Za-z0-9_-]+$/;

export class FilePayloadStore implements PayloadStore {
  constructor(
    private readonly root: string,
    private readonly db: Queryable,
  ) {}

  private dirOf(requestId: string): string {
    if (!SAFE_ID.test(requestId)) throw new Error(`unsafe request id for a payload file: ${JSON.stringify(requestId)}`);
    // 256 shards keep directories small with millions of requests.
    return join(this.root, requestId.slice(0, 2).padEnd(2, "_"), requestId);
  }

  async put(requestId: string, kind: BodyKind, bytes: Buffer): Promise<string> {
    const dir = this.dirOf(requestId);
    await mkdir(dir, { recursive: true });
    // A unique name per put: a retry on another runner writes its own result, never over one being read.
    const name = `${kind}-${randomUUID()}`;
    const tmp = join(dir, `.${name}.tmp`);
    await writeFile(tmp, bytes);
    // Renamed into place: a reader never sees half a file under the final name.
    await rename(tmp, join(dir, name));
    return `${FILE_REF}${requestId}/${name}`;
  }

  async get(ref: string): Promise<Buffer | undefined> {
    if (!ref.startsWith(FILE_REF)) throw new Error(`not a file payload ref: ${ref}`);
    const [requestId, name, ...rest] = ref.slice(FILE_REF.length).split("/");
    if (!name || rest.length || !SAFE_ID.test(name)) throw new Error(`malformed payload ref: ${ref}`);
    try {
      return await readFile(join(this.dirOf(requestId), name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async delete(requestIds: readonly string[]): Promise<void> {
    for (const id of requestIds) {
      if (SAFE_ID.test(id)) await rm(this.dirOf(id), { recursive: true, force: true });
    }
  }

  async deleteOrphans(graceMs: number, batch: number): Promise<number> {
    let shards: string[];
    try {
      shards = await readdir(this.root);
    } catch {
      return 0;
    }
    const cutoff = Date.now() - graceMs;
    let deleted = 0;
    for (const shard of shards) {
      const candidates: string[] = [];
      for (const id of await readdir(join(this.root, shard)).catch(() => [] as string[])) {
        if (!SAFE_ID.test(id)) continue;
        const st = await stat(join(this.root, shard, id)).catch(() => undefined);
        if (st && st.mtimeMs <= cutoff) candidates.push(id);
      }
      for (let i = 0; i < candidates.length; i += batch) {
        const chunk = candidates.slice(i, i + batch);
        const present = new Set(await existingRequestIds(this.db, chunk));
        const orphans = chunk.filter((id) => !present.has(id));
        await this.delete(orphans);
        deleted += orphans.length;
      }
    }
    return deleted;
  }
}

export class TablePayloadStore implements PayloadStore {
  constructor(private readonly db: Queryable) {}

  async put(requestId: string, kind: BodyKind, bytes: Buffer): Promise<string> {
    const id = randomUUID();
    await this.db.query("INSERT INTO request_payloads (id, request_id, kind, bytes, size) VALUES ($1, $2, $3, $4, $5)", [
      id,
      requestId,
      kind,
      bytes,
      bytes.length,
    ]);
    return `${TABLE_REF}${id}`;
  }

  async get(ref: string): Promise<Buffer | undefined> {
    if (!ref.startsWith(TABLE_REF)) throw new Error(`not a table payload ref: ${ref}`);
    const [row] = await this.db.query<{ bytes: Uint8Array }>("SELECT bytes FROM request_payloads WHERE id = $1", [ref.slice(TABLE_REF.length)]);
    return row ? Buffer.from(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength) : undefined;
  }

  async delete(requestIds: readonly string[]): Promise<void> {
    if (requestIds.length === 0) return;
    await this.db.query("DELETE FROM request_payloads WHERE request_id = ANY($1::text[])", [requestIds]);
  }

  async deleteOrphans(graceMs: number, batch: number): Promise<number> {
    const rows = await this.db.query<{ request_id: string }>(
      `DELETE FROM request_payloads WHERE id IN (
         SELECT p.id FROM request_payloads p
          WHERE p.created_at < now() - make_interval(secs => $1::float8 / 1000)
            AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = p.request_id)
            AND NOT EXISTS (SELECT 1 FROM stored_files f WHERE f.id = p.request_id)
          LIMIT $2)
       RETURNING request_id`,
      [graceMs, batch],
    );
    return new Set(rows.map((r) => r.request_id)).size;
  }
}

/** Which of these ids still have a row that owns bodies: a request, or an uploaded file (storage). */
async function existingRequestIds(q: Queryable, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await q.query<{ id: string }>(
    "SELECT id FROM requests WHERE id = ANY($1::text[]) UNION SELECT id FROM stored_files WHERE id = ANY($1::text[])",
    [ids],
  );
  return rows.map((r) => r.id);
}
