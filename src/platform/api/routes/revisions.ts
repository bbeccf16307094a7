/**
 * Revisions: created under their app (which a first revision creates), read
 * and deleted by id. Creating one starts or joins its environment build; the
 * caller follows it under /v1/builds.
 */
import type { FastifyPluginAsync } from "fastify";
import * as S from "../../../contract/schemas";
import type { ServerDeps } from "../server";
import { presentCreatedRevision, presentRevision } from "../present";
import { env, nameParam, owner, param } from "../request";

export const revisionRoutes: FastifyPluginAsync<Pick<ServerDeps, "service">> = async (v1, { service }) => {
  v1.get("/apps/:name/revisions", async (req) => {
    const { app, revisions } = await service.listRevisions(owner(req), nameParam(req), env(req));
    return revisions.map((r) => presentRevision(r, app));
  });

  v1.post("/apps/:name/revisions", async (req, reply) => {
    const body = S.CreateRevisionBody.parse(req.body);
    const created = await service.createRevision(owner(req), nameParam(req), env(req), body);
    // 200 with reused: true when a revision with the same content existed (nothing was built).
    return reply.status(created.revision.reused ? 200 : 201).send(presentCreatedRevision(created));
  });

  v1.get("/revisions/:id", async (req) => {
    const { revision, app } = await service.requireRevision(owner(req), param(req, "id"));
    return presentRevision(revision, app);
  });

  v1.delete("/revisions/:id", async (req, reply) => {
    await service.deleteRevision(owner(req), param(req, "id"));
    return reply.status(204).send();
  });
};
