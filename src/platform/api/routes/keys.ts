/** /v1/me and /v1/keys: who the caller is, and the owner's API keys (a secret is shown once, at creation). */
import type { FastifyPluginAsync } from "fastify";
import * as S from "../../../contract/schemas";
import type { CreatedKeyResponse, MeResponse, Sent } from "../../../contract";
import type { ServerDeps } from "../server";
import { createKey, listKeys, revokeKey } from "../../keyService";
import { presentKey } from "../present";
import { bodyOrEmpty, owner, param } from "../request";

export const keyRoutes: FastifyPluginAsync<Pick<ServerDeps, "db">> = async (v1, { db }) => {
  v1.get("/me", async (req) => ({ owner: owner(req), key_id: req.principal!.key_id, scope: req.principal!.scope }) satisfies Sent<typeof MeResponse>);

  v1.get("/keys", async (req) => (await listKeys(db, owner(req))).map(presentKey));

  v1.post("/keys", async (req, reply) => {
    const body = S.CreateKeyBody.parse(bodyOrEmpty(req));
    const k = await createKey(db, owner(req), body.scope, body.alias);
    return reply.status(201).send({ key_id: k.keyId, key_secret: k.secret, scope: body.scope, alias: body.alias } satisfies Sent<typeof CreatedKeyResponse>);
  });

  v1.delete("/keys/:key_id", async (req, reply) => {
    await revokeKey(db, owner(req), param(req, "key_id"));
    return reply.status(204).send();
  });
};
