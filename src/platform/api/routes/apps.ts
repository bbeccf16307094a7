/**
 * /v1/apps: an app's alias in an environment (list, get, move/tune, delete),
 * its rollouts, and what it is doing now (runners, usage).
 */
import type { FastifyPluginAsync } from "fastify";
import * as S from "../../../contract/schemas";
import type { RolloutResponse, Sent } from "../../../contract";
import type { ServerDeps } from "../server";
import { appUsage, runnerListing } from "../../appStatus";
import { presentApp, presentRunners, presentUsage } from "../present";
import { bodyOrEmpty, env, nameParam, owner, query } from "../request";

export const appRoutes: FastifyPluginAsync<Pick<ServerDeps, "db" | "service" | "runners" | "usage">> = async (v1, d) => {
  const { service } = d;

  v1.get("/apps", async (req) => (await service.listApps(owner(req), query(req, "env") ? env(req) : undefined)).map(presentApp));

  v1.get("/apps/:name", async (req) => presentApp(await service.requireApp(owner(req), nameParam(req), env(req))));

  v1.put("/apps/:name", async (req) => {
    const body = S.UpdateAppBody.parse(req.body);
    return presentApp(await service.updateApp(owner(req), nameParam(req), env(req), body));
  });

  v1.delete("/apps/:name", async (req, reply) => {
    await service.deleteApp(owner(req), nameParam(req), env(req));
    return reply.status(204).send();
  });

  v1.post("/apps/:name/rollout", async (req) => {
    const body = S.RolloutBody.parse(bodyOrEmpty(req));
    const restarted = await service.rollout(owner(req), nameParam(req), env(req), body.force);
    return { restarted, force: body.force } satisfies Sent<typeof RolloutResponse>;
  });

  v1.get("/apps/:name/runners", async (req) => {
    const app = await service.requireApp(owner(req), nameParam(req), env(req));
    return presentRunners(await runnerListing(d.db, d.runners, app));
  });

  v1.get("/apps/:name/usage", async (req) => {
    const app = await service.requireApp(owner(req), nameParam(req), env(req));
    return (await appUsage(d.db, d.usage, app)).map(presentUsage);
  });
};
