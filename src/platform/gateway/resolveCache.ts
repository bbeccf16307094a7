/**
 * Short-lived caches on the gateway's hot path, so a call does not pay three
 * database round trips: keys for 5 s (a revoked key stops working within 5 s
 * on other processes, at once on this one), an app's routing (alias → app
 * and active revision) for 1 s, invalidated at once when this process changes
 * the app. Revisions are immutable and cached until evicted.
 */
import type { Db } from "../store/db";
import * as repo from "../store/repo";
import type { AppRow, KeyRow, RevisionRow } from "../store/repo";

interface Entry<T> {
  value: T;
  until: number;
}

const KEY_TTL_MS = 5000;
const APP_TTL_MS = 1000;
const MAX_ENTRIES = 10_000;

export class ResolveCache {
  private readonly keys = new Map<string, Entry<KeyRow | undefined>>();
  private readonly apps = new Map<string, Entry<AppRow | undefined>>();
  private readonly revisions = new Map<string, RevisionRow>();

  constructor(private readonly db: Db) {}

  async key(keyId: string): Promise<KeyRow | undefined> {
    return this.cached(this.keys, keyId, KEY_TTL_MS, () => repo.getKey(this.db, keyId));
  }

  /**
   * Whether `row` is still this cache's fresh entry for its key id: the same
   * row object, not expired, not invalidated. The authenticator's memo of
   * verified secrets (api/auth.ts) is only trusted while this holds.
   */
  isCurrentKey(row: KeyRow): boolean {
    const hit = this.keys.get(row.key_id);
    return hit !== undefined && hit.value === row && hit.until > Date.now();
  }

  async app(owner: string, name: string, env: string): Promise<AppRow | undefined> {
    return this.cached(this.apps, appKey(owner, name, env), APP_TTL_MS, () => repo.getApp(this.db, owner, name, env));
  }

  /**
   * The app's routing when this cache holds a fresh entry, else undefined
   * (also when the cached answer is "no such app"): for a caller that can
   * serve the call without waiting and takes the ordinary path otherwise.
   */
  appNow(owner: string, name: string, env: string): AppRow | undefined {
    return fresh(this.apps, appKey(owner, name, env))?.value;
  }

  /** The revision when cached, else undefined (see appNow). */
  revisionNow(id: string): RevisionRow | undefined {
    return this.revisions.get(id);
  }

  async revision(id: string): Promise<RevisionRow | undefined> {
    const hit = this.revisions.get(id);
    if (hit) return hit;
    const row = await repo.getRevision(this.db, id);
    if (row) {
      if (this.revisions.size >= MAX_ENTRIES) this.revisions.clear();
      this.revisions.set(id, row);
    }
    return row;
  }

  /** Called whenever this process changes apps or keys. */
  invalidate(): void {
    this.keys.clear();
    this.apps.clear();
  }

  private async cached<T>(map: Map<string, Entry<T>>, k: string, ttl: number, load: () => Promise<T>): Promise<T> {
    const hit = fresh(map, k);
    if (hit) return hit.value;
    const value = await load();
    if (map.size >= MAX_ENTRIES) map.clear();
    map.set(k, { value, until: Date.now() + ttl });
    return value;
  }
}

const appKey = (owner: string, name: string, env: string) => `${owner}/${name}/${env}`;

/** The entry for `k` while it has not expired. */
function fresh<T>(map: Map<string, Entry<T>>, k: string): Entry<T> | undefined {
  const hit = map.get(k);
  return hit && hit.until > Date.now() ? hit : undefined;
}
