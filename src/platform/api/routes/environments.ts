/** /v1/environments: list, create (201, or 200 when it existed), delete (rules in PlatformService.deleteEnvironment). */
import type { FastifyPluginAsync } from "fastify";
import * as S from "../../../contract/schemas";
import type { CreatedEnvironmentResponse, Sent } from "../../../contract";
import type { ServerDeps } from "../server";
import { presentEnvironment } from "../present";
import { nameParam, owner, query } from "../request";

export const environmentRoutes: FastifyPluginAsync<Pick<ServerDeps, "service">> = async (v1, { service }) => {
  v1.get("/environments", async (req) => (await service.listEnvironments(owner(req))).map(presentEnvironment));

  v1.post("/environments", async (req, reply) => {
    const body = S.CreateEnvironmentBody.parse(req.body);
    const created = await service.createEnvironment(owner(req), body.name);
    return reply.status(created ? 201 : 200).send({ name: body.name, created } satisfies Sent<typeof CreatedEnvironmentResponse>);
  });

  v1.delete("/environments/:name", async (req, reply) => {
    const name = nameParam(req);
    const force = String(query(req, "force")) === "true";
    await service.deleteEnvironment(owner(req), name, force);
    return reply.status(204).send();
  });
};
