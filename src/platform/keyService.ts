/**
 * API keys of an owner: minted with a secret that is shown once and stored
 * only as a hash (keys.ts), listed without secrets, revoked by id.
 */
import type { Db } from "./store/db";
import * as repo from "./store/repo";
import { notFound, PlatformError } from "./errors";
import { generateKey, type Scope } from "./keys";

export function listKeys(db: Db, owner: string) {
  return repo.listKeys(db, owner);
}

/** Mints a key; the answer is the only place its secret ever appears. */
export async function createKey(db: Db, owner: string, scope: Scope, alias: string): Promise<{ keyId: string; secret: string }> {
  const k = generateKey();
  await repo.insertKey(db, { keyId: k.keyId, secretHash: k.secretHash, scope, owner, alias });
  return { keyId: k.keyId, secret: k.secret };
}

/**
 * Revokes one of the owner's keys; 404 for an unknown, foreign or already
 * revoked one. The owner's last ADMIN key stays: without it nobody could
 * manage the platform again (409, and nothing changes).
 */
export async function revokeKey(db: Db, owner: string, keyId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const admins = await repo.lockActiveAdminKeys(tx, owner);
    if (admins.length === 1 && admins[0] === keyId) {
      throw new PlatformError(
        409,
        "last_admin_key",
        `key '${keyId}' is the last ADMIN key of '${owner}'; create another ADMIN key (falctl keys create --scope ADMIN) before revoking this one`,
      );
    }
    if (!(await repo.revokeKey(tx, owner, keyId))) throw notFound(`key '${keyId}'`);
  });
}
