/**
 * Environment builds as the API offers them (docs/builds.md): would a
 * requirement set hit the build cache, a build and its log for its owner, an
 * app's builds, and the disk the environments take. The builder does the
 * building; this decides what a caller may see and ask.
 */
import type { Db } from "./store/db";
import * as bs from "./store/buildStore";
import type { BuildRow } from "./store/buildStore";
import type { BuildPlan, EnvironmentBuilder, EnvironmentSpec } from "./builds/builder";
import type { AppRow } from "./store/repo";
import { invalid, notFound } from "./errors";

/**
 * The builder's plan for a spec. A Python version the host cannot provide is
 * the caller's error (422 naming `field`), not the platform's.
 */
export function planOrInvalid(builder: EnvironmentBuilder, spec: EnvironmentSpec, field: string): Promise<BuildPlan> {
  return builder.plan(spec).catch((err: unknown) => {
    throw invalid(`${field}: ${err instanceof Error ? err.message : String(err)}`);
  });
}

/** A build, for an owner one of whose revisions uses it; 404 otherwise, so ids reveal nothing. */
export async function visibleBuild(db: Db, owner: string, id: string): Promise<BuildRow> {
  const b = await bs.getBuild(db, id);
  if (!b || !(await bs.buildVisibleTo(db, id, owner))) throw notFound(`build '${id}'`);
  return b;
}

/** Builds of the app's revisions, newest first, with the revisions using each. */
export function buildsOfApp(db: Db, app: AppRow): Promise<Array<BuildRow & { revisions: string[] }>> {
  return bs.buildsOfApp(db, app.id);
}

/** Ready environments of this host's store and the disk they take. */
export function environmentUsage(db: Db, builder: EnvironmentBuilder): Promise<{ environments: number; bytes: number }> {
  return bs.buildUsage(db, builder.store);
}
