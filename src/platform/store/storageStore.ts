/**
 * Files callers upload (fal.storage.upload) and pass as URLs in their inputs:
 * SQL only. Bytes live in the payload store (payloadStore.ts), like large
 * request bodies; a row says who owns the file, its name and type, and
 * whether its upload has finished. Rows expire with the request retention.
 */
import type { Queryable } from "./db";

export interface StoredFileRow {
  id: string;
  owner: string;
  file_name: string;
  content_type: string;
  upload_token_hash: string;
  status: "pending" | "ready";
  size: string;
  ref: string | null;
  created_at: Date;
  completed_at: Date | null;
}

export async function createPendingFile(
  q: Queryable,
  f: { id: string; owner: string; fileName: string; contentType: string; uploadTokenHash: string },
): Promise<void> {
  await q.query(
    "INSERT INTO stored_files (id, owner, file_name, content_type, upload_token_hash, status) VALUES ($1,$2,$3,$4,$5,'pending')",
    [f.id, f.owner, f.fileName, f.contentType, f.uploadTokenHash],
  );
}

export async function getFile(q: Queryable, id: string): Promise<StoredFileRow | undefined> {
  return (await q.query<StoredFileRow>("SELECT * FROM stored_files WHERE id = $1", [id]))[0];
}

/** Marks a pending upload done; false when it was not pending (uploaded already, or gone). */
export async function completeUpload(q: Queryable, id: string, ref: string, size: number, contentType: string): Promise<boolean> {
  const rows = await q.query(
    `UPDATE stored_files SET status = 'ready', ref = $2, size = $3, content_type = $4, completed_at = now()
      WHERE id = $1 AND status = 'pending' RETURNING id`,
    [id, ref, size, contentType],
  );
  return rows.length > 0;
}

/** Deletes up to `limit` files created more than retentionMs ago; returns their ids so their bytes go too. */
export async function deleteExpiredFiles(q: Queryable, retentionMs: number, limit: number): Promise<string[]> {
  const rows = await q.query<{ id: string }>(
    `DELETE FROM stored_files WHERE id IN (
       SELECT id FROM stored_files WHERE created_at < now() - make_interval(secs => $1::float8 / 1000)
        LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [retentionMs, limit],
  );
  return rows.map((r) => r.id);
}
