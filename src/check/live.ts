/**
 * Reads what the platform serves now for one app: the alias (auth mode,
 * runtime-tunable values, active revision) and that revision (files, source
 * object, code values). Read-only: two GETs, never a write.
 */
import { ApiError, type PlatformClient } from "../client/client";
import type { LiveState } from "./types";

type Reader = Pick<PlatformClient, "findApp" | "getRevision"> & Partial<Pick<PlatformClient, "planBuild">>;

/** The environment a deploy plans: whether its build key is cached is part of the check. */
export interface PlannedEnvironment {
  readonly requirements: readonly string[];
  readonly python_version: string | null;
}

/** The live state; `{}` when the app (or its environment) does not exist. Other errors are thrown. */
export async function readLiveState(client: Reader, appName: string, environment: string, planned?: PlannedEnvironment): Promise<LiveState> {
  const build = planned && client.planBuild ? await readBuildPlan(client as Required<Reader>, planned) : undefined;
  const withBuild = (s: LiveState): LiveState => (build ? { ...s, build } : s);
  const app = await client.findApp(appName, environment);
  if (!app) return withBuild({});
  if (!app.revision) return withBuild({ app });
  try {
    return withBuild({ app, revision: await client.getRevision(app.revision) });
  } catch (err) {
    // The active revision was deleted behind our back: its values show as unknown.
    if (err instanceof ApiError && err.status === 404) return withBuild({ app });
    throw err;
  }
}

/** The platform's answer about a build key; undefined when it cannot say (an older platform, a bad version). */
async function readBuildPlan(client: Required<Reader>, planned: PlannedEnvironment): Promise<LiveState["build"]> {
  try {
    const p = await client.planBuild(planned.requirements, planned.python_version);
    return { key: p.key, status: p.status };
  } catch (err) {
    if (err instanceof ApiError && err.status < 500) return undefined;
    throw err;
  }
}
