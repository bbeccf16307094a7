/**
 * Reads what the platform serves now for one app: the alias (auth mode,
 * runtime-tunable values, active revision) and that revision (files, source
 * object, code values). Read-only: two GETs, never a write.
 */
import { ApiError, type PlatformClient } from "../client/client";
import type { LiveState } from "./types";

type Reader = Pick<PlatformClient, "findApp" | "getRevision">;

/** The live state; `{}` when the app (or its environment) does not exist. Other errors are thrown. */
export async function readLiveState(client: Reader, appName: string, environment: string): Promise<LiveState> {
  const app = await client.findApp(appName, environment);
  if (!app) return {};
  if (!app.revision) return { app };
  try {
    return { app, revision: await client.getRevision(app.revision) };
  } catch (err) {
    // The active revision was deleted behind our back: its values show as unknown.
    if (err instanceof ApiError && err.status === 404) return { app };
    throw err;
  }
}
