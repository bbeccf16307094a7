/**
 * API keys of an owner: minted with a secret that is shown once and stored
 * only as a hash (keys.ts), listed without secrets, revoked by id.
 */
import type { Db } from "./store/db";
import * as repo from "./store/repo";
import { notFound } from "./errors";
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

/** Revokes one of the owner's keys; 404 for an unknown, foreign or already revoked one. */
export async function revokeKey(db: Db, owner: string, keyId: string): Promise<void> {
  if (!(await repo.revokeKey(db, owner, keyId))) throw notFound(`key '${keyId}'`);
}
