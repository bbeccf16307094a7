/** /v1/blobs: content-addressed app files; a client asks which it lacks, then uploads those (hash checked). */
import type { FastifyPluginAsync } from "fastify";
import * as S from "../../../contract/schemas";
import type { MissingBlobsResponse, Sent } from "../../../contract";
import type { ServerDeps } from "../server";
import { missingBlobs, putBlob } from "../../blobService";
import { param } from "../request";

export const blobRoutes: FastifyPluginAsync<Pick<ServerDeps, "db">> = async (v1, { db }) => {
  v1.post("/blobs/missing", async (req) => {
    const body = S.MissingBlobsBody.parse(req.body);
    return { missing: await missingBlobs(db, body.hashes) } satisfies Sent<typeof MissingBlobsResponse>;
  });

  v1.put("/blobs/:hash", async (req, reply) => {
    await putBlob(db, param(req, "hash"), req.body);
    return reply.status(204).send();
  });
};
