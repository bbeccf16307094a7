/**
 * Environment builds over HTTP: the deploy check asks whether a requirement
 * set would hit the build cache; a deploy follows a build's log while it
 * runs; `falctl apps builds` lists an app's builds; `falctl platform info`
 * shows how much disk the environments take.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Db } from "../../store/db";
import * as bs from "../../store/buildStore";
import type { BuildRow } from "../../store/buildStore";
import type { EnvironmentBuilder } from "../../builds/builder";
import type { PlatformService } from "../../service";
import * as S from "../../../contract/schemas";
import { invalid, notFound } from "../../errors";

export interface BuildRouteDeps {
  readonly db: Db;
  readonly builder: EnvironmentBuilder;
  readonly service: PlatformService;
  readonly version: string;
  readonly owner: (req: FastifyRequest) => string;
  readonly env: (req: FastifyRequest) => string;
  readonly appName: (req: FastifyRequest) => string;
}

export function registerBuildRoutes(v1: FastifyInstance, d: BuildRouteDeps): void {
  v1.post("/builds/plan", async (req) => {
    const body = S.PlanBuildBody.parse(req.body ?? {});
    const plan = await d.builder.plan({ requirements: body.requirements, pythonVersion: body.python_version }).catch((err: unknown) => {
      throw invalid(`python_version: ${err instanceof Error ? err.message : String(err)}`);
    });
    return {
      key: plan.key,
      status: plan.ready ? "ready" : plan.building ? "building" : "missing",
      build_id: plan.ready?.id ?? plan.building?.id ?? null,
      python_version: plan.python.version,
      installer: plan.installer,
    };
  });

  v1.get("/builds/:id", async (req) => {
    const id = (req.params as { id: string }).id;
    const { offset } = S.BuildLogQuery.parse(req.query);
    const b = await bs.getBuild(d.db, id);
    if (!b || !(await bs.buildVisibleTo(d.db, id, d.owner(req)))) throw notFound(`build '${id}'`);
    return { ...presentBuild(b), log: b.log.slice(offset), next_offset: b.log.length };
  });

  v1.get("/apps/:name/builds", async (req) => {
    const a = await d.service.requireApp(d.owner(req), d.appName(req), d.env(req));
    return (await bs.buildsOfApp(d.db, a.id)).map((b) => ({ ...presentBuild(b), revisions: b.revisions, log_lines: b.log.split("\n").length - 1 }));
  });

  v1.get("/platform", async () => {
    const usage = await bs.buildUsage(d.db, d.builder.store);
    return { version: d.version, database: d.db.kind, environments: { store: d.builder.store, count: usage.environments, bytes: usage.bytes } };
  });
}

function presentBuild(b: BuildRow) {
  return {
    id: b.id,
    key: b.build_key,
    status: b.status,
    requirements: b.requirements,
    python_version: b.python_version,
    installer: b.installer,
    size_bytes: b.size_bytes,
    no_cache: b.no_cache,
    error: b.error,
    created_at: b.created_at,
    finished_at: b.finished_at,
  };
}
