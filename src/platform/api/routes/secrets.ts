/** /v1/secrets of an environment: names only ever leave the platform; values go to runners as env vars. */
import type { FastifyPluginAsync } from "fastify";
import * as S from "../../../contract/schemas";
import type { ServerDeps } from "../server";
import { listSecrets, setSecret, unsetSecret } from "../../secretService";
import { presentSecret } from "../present";
import { env, owner, secretParam } from "../request";

export const secretRoutes: FastifyPluginAsync<Pick<ServerDeps, "db">> = async (v1, { db }) => {
  v1.get("/secrets", async (req) => (await listSecrets(db, owner(req), env(req))).map(presentSecret));

  v1.put("/secrets/:secret", async (req, reply) => {
    const name = secretParam(req);
    const body = S.SetSecretBody.parse(req.body);
    await setSecret(db, owner(req), env(req), name, body.value);
    return reply.status(204).send();
  });

  v1.delete("/secrets/:secret", async (req, reply) => {
    const name = secretParam(req);
    await unsetSecret(db, owner(req), env(req), name);
    return reply.status(204).send();
  });
};
