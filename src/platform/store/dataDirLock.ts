/**
 * One platform process per PGlite data directory. PGlite is an embedded,
 * single-process database: a second process opening the same files keeps its
 * own copy in memory and the two overwrite each other's writes, so a write
 * one of them acknowledged can silently vanish. The lock is a file created
 * with O_EXCL that records the holder's host and pid; a holder that is gone
 * (SIGKILL, power loss) leaves a stale lock that the next start takes over.
 *
 * PostgreSQL needs no such lock: several processes share it by design.
 */
import { openSync, writeSync, closeSync, readFileSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { isProcessAlive } from "../processes";

export const LOCK_FILE = "falplane.lock";

interface Holder {
  readonly host: string;
  readonly pid: number;
  readonly started_at: string;
}

/** Lock paths this process holds: a second platform in the same process must be refused too. */
const heldHere = new Set<string>();

export class DataDirInUseError extends Error {
  constructor(dir: string, holder: Holder) {
    super(
      `the data directory ${dir} is in use by another platform process (pid ${holder.pid} on ${holder.host}, ` +
        `started ${holder.started_at}); stop it first, or start this one with another --data-dir. ` +
        `Several platform processes can share one database only on PostgreSQL (DATABASE_URL).`,
    );
    this.name = "DataDirInUseError";
  }
}

/** Takes the lock of `dir` or throws DataDirInUseError; returns the function that lets go of it. */
export function lockDataDir(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  if (heldHere.has(path)) throw new DataDirInUseError(dir, readHolder(path) ?? me());
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, JSON.stringify(me()));
      closeSync(fd);
      heldHere.add(path);
      return () => release(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = readHolder(path);
    if (holder && !isStale(holder)) throw new DataDirInUseError(dir, holder);
    // Stale (its process is gone) or half-written by a process that died while writing it.
    try {
      unlinkSync(path);
    } catch {
      // Another starting process removed it first; try again.
    }
  }
  throw new Error(`could not take the lock ${path}: other processes keep taking it`);
}

function release(path: string): void {
  heldHere.delete(path);
  const holder = readHolder(path);
  if (holder && holder.pid === process.pid && holder.host === hostname()) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
}

function me(): Holder {
  return { host: hostname(), pid: process.pid, started_at: new Date().toISOString() };
}

function readHolder(path: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as Holder;
    return typeof h.pid === "number" && typeof h.host === "string" ? h : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the holder is certainly gone: on this host, its pid no longer runs,
 * or it is this very process (a lock left by a platform of this process that
 * was never closed is not in heldHere). A lock from another host (a data
 * directory on shared storage) is never taken over: only its owner can tell.
 */
function isStale(h: Holder): boolean {
  if (h.host !== hostname()) return false;
  if (h.pid === process.pid) return true;
  return !isProcessAlive(h.pid);
}
