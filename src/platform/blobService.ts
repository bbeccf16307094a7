/**
 * App files as content-addressed blobs: a client asks which hashes the
 * platform lacks and uploads those. A blob is stored only under the hash of
 * its content, so a revision's file map always means what it says.
 */
import { createHash } from "node:crypto";
import type { Db } from "./store/db";
import * as repo from "./store/repo";
import { invalid } from "./errors";

export function missingBlobs(db: Db, hashes: readonly string[]): Promise<string[]> {
  return repo.missingBlobs(db, hashes);
}

/** Stores `content` as blob `hash`; 422 unless it is bytes whose sha256 is that hash. */
export async function putBlob(db: Db, hash: string, content: unknown): Promise<void> {
  if (!Buffer.isBuffer(content)) throw invalid("send the file content as application/octet-stream");
  const actual = createHash("sha256").update(content).digest("hex");
  if (actual !== hash) throw invalid(`content hash is ${actual}, not ${hash}`);
  await repo.putBlob(db, hash, content);
}
