/**
 * Secrets of an environment (docs/semantics.md): set and unset by name, listed
 * by name only. Values never leave the platform except into runners, as
 * environment variables when they start (a rollout applies a change).
 */
import type { Db } from "./store/db";
import * as repo from "./store/repo";
import { notFound } from "./errors";
import { requireEnvironment } from "./service";

/** Names and when each was last set; 404 for an environment that does not exist. */
export async function listSecrets(db: Db, owner: string, env: string) {
  await requireEnvironment(db, owner, env);
  return repo.listSecretNames(db, owner, env);
}

/** Sets (or replaces) a secret; only in an environment that exists. */
export async function setSecret(db: Db, owner: string, env: string, name: string, value: string): Promise<void> {
  await requireEnvironment(db, owner, env);
  await repo.setSecret(db, owner, env, name, value);
}

/** Unsets a secret; 404 when it was not set. */
export async function unsetSecret(db: Db, owner: string, env: string, name: string): Promise<void> {
  if (!(await repo.unsetSecret(db, owner, env, name))) throw notFound(`secret '${name}' in environment '${env}'`);
}
