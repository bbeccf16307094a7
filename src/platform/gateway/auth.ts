/** Who may call an app, by its auth mode (docs/semantics.md, Auth modes). */
import type { AppRow, KeyRow } from "../store/repo";
import { PlatformError } from "../errors";

/**
 * private: only keys of the app's owner; public: anyone; shared: any valid key.
 * A missing or invalid key is 401; a valid key of another owner on a private app is 403.
 */
export function authorizeCall(app: AppRow, key: KeyRow | undefined): void {
  const refusal = callRefusal(app, key);
  if (refusal) throw refusal;
}

/** authorizeCall's answer without throwing: the 401 or 403 to give, or undefined when the caller may call. */
export function callRefusal(app: AppRow, key: KeyRow | undefined): PlatformError | undefined {
  if (app.auth_mode === "public") return undefined;
  if (!key) return new PlatformError(401, "unauthorized", `app '${app.name}' is ${app.auth_mode}: send 'Authorization: Key <key_id>:<key_secret>'`);
  if (app.auth_mode === "private" && key.owner !== app.owner) return new PlatformError(403, "forbidden", `app '${app.name}' is private to its owner`);
  return undefined;
}
