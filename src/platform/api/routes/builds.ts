/**
 * Environment builds over HTTP: the deploy check asks whether a requirement
 * set would hit the build cache; a deploy follows a build's log while it
 * runs; `falctl apps builds` lists an app's builds; `falctl platform info`
 * shows how much disk the environments take.
 */
import type { FastifyPluginAsync } from "fastify";
import * as S from "../../../contract/schemas";
import type { AppBuildResponse, BuildLogResponse, PlatformInfoResponse, Sent } from "../../../contract";
import type { ServerDeps } from "../server";
import { buildsOfApp, environmentUsage, planOrInvalid, visibleBuild } from "../../buildService";
import { presentBuild, presentBuildPlan } from "../present";
import { bodyOrEmpty, env, nameParam, owner, param } from "../request";

export const buildRoutes: FastifyPluginAsync<Pick<ServerDeps, "db" | "builder" | "service" | "version" | "sandbox" | "region">> = async (v1, d) => {
  v1.post("/builds/plan", async (req) => {
    const body = S.PlanBuildBody.parse(bodyOrEmpty(req));
    const plan = await planOrInvalid(d.builder, { requirements: body.requirements, pythonVersion: body.python_version }, "python_version");
    return presentBuildPlan(plan);
  });

  v1.get("/builds/:id", async (req) => {
    const id = param(req, "id");
    const { offset } = S.BuildLogQuery.parse(req.query);
    const b = await visibleBuild(d.db, owner(req), id);
    return { ...presentBuild(b), log: b.log.slice(offset), next_offset: b.log.length } satisfies Sent<typeof BuildLogResponse>;
  });

  v1.get("/apps/:name/builds", async (req) => {
    const app = await d.service.requireApp(owner(req), nameParam(req), env(req));
    return (await buildsOfApp(d.db, app)).map(
      (b) => ({ ...presentBuild(b), revisions: b.revisions, log_lines: b.log.split("\n").length - 1 }) satisfies Sent<typeof AppBuildResponse>,
    );
  });

  v1.get("/platform", async () => {
    const usage = await environmentUsage(d.db, d.builder);
    const info: Sent<typeof PlatformInfoResponse> = {
      version: d.version,
      database: d.db.kind,
      sandbox: d.sandbox,
      region: d.region,
      environments: { store: d.builder.store, count: usage.environments, bytes: usage.bytes },
    };
    return info;
  });
};
