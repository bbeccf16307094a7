/**
 * Revision-file materialisation: a runner runs in a directory holding its
 * revision's files, written from the content-addressed blob store into
 * `<dataDir>/revisions/<revision id>`.
 *
 * A revision is immutable, so its directory is written once and reused by
 * every runner of it. It is written under a temporary name and renamed into
 * place, with a `.complete` marker, so a crash mid-write never leaves a half
 * directory that a later runner would take for a whole one.
 */
import { mkdirSync, writeFileSync, existsSync, chmodSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import type { Queryable } from "../store/db";
import * as repo from "../store/repo";
import type { RevisionRow } from "../store/repo";

/** Writes the revision's files into `<dataDir>/revisions/<id>` unless already there; returns that directory. */
export async function materializeRevision(db: Queryable, dataDir: string, revision: RevisionRow): Promise<string> {
  const dir = join(dataDir, "revisions", revision.id);
  if (existsSync(join(dir, ".complete"))) return dir;
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  try {
    for (const [rel, entry] of Object.entries(revision.files)) {
      const target = resolve(tmp, rel);
      if (!target.startsWith(tmp + sep)) throw new Error(`revision ${revision.id}: file path escapes its directory: ${rel}`);
      const content = await repo.getBlob(db, entry.hash);
      if (!content) throw new Error(`revision ${revision.id}: file ${rel} (${entry.hash}) is missing from the blob store`);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
      chmodSync(target, entry.mode & 0o777);
    }
    writeFileSync(join(tmp, ".complete"), "");
  } catch (err) {
    // A failed write leaves nothing behind: the next runner starts over.
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}
