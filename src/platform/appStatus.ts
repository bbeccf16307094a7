/**
 * What an app is doing now, for `falctl apps runners` and `usage`: its
 * runners as this process sees them, a revision waiting out a crash backoff,
 * and calls per caller key.
 */
import type { Db } from "./store/db";
import * as repo from "./store/repo";
import type { AppRow, RunnerRow } from "./store/repo";
import type { ManagedRunner, RunnerManager } from "./runners";
import type { UsageRecorder } from "./gateway/usage";

export interface RunnerListing {
  /** Runner rows not yet stopped, with this process's live view of those it runs. */
  readonly runners: readonly { readonly row: RunnerRow; readonly live?: ManagedRunner }[];
  /**
   * Set while the active revision's runners keep failing setup and the next
   * start waits: no runner row shows that wait, so the listing says it.
   */
  readonly backoff?: { readonly revision: string; readonly reason: string };
}

export async function runnerListing(db: Db, runners: RunnerManager, app: AppRow): Promise<RunnerListing> {
  const live = new Map(runners.list(app.id).map((r) => [r.id, r]));
  const rows = (await repo.listRunners(db, app.id)).map((row) => ({ row, live: live.get(row.id) }));
  const revision = app.current_revision;
  const wait = revision ? runners.backoffRemaining(revision) : 0;
  if (!revision || wait <= 0) return { runners: rows };
  const reason = `${runners.backoffFailures(revision)} consecutive setup failure(s); next start in ${wait} s`;
  return { runners: rows, backoff: { revision, reason } };
}

/** Calls per caller key, including those this process has counted but not yet written. */
export async function appUsage(db: Db, usage: UsageRecorder, app: AppRow) {
  await usage.flush();
  return repo.listUsage(db, app.id);
}
