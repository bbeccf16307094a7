/**
 * Storage as fal's clients use it (`fal.storage.upload`, and the clients'
 * automatic upload of Blob inputs): the client asks for an upload
 * (`POST <rest host>/storage/upload/initiate`, through the proxy convention
 * or directly), PUTs the bytes to the `upload_url` it gets back, and passes
 * the `file_url` in its input; the app's runner fetches that URL.
 *
 *   POST /storage/upload/initiate          {content_type, file_name} → {upload_url, file_url}   (key required)
 *   PUT  /storage/upload/<id>?token=<t>    the bytes (no key: the one-time token is the capability)
 *   GET  /storage/files/<id>/<file name>   the bytes (no key: the id is unguessable, as fal's CDN URLs are)
 *
 * Bytes live in the payload store beside large request bodies, count towards
 * the owner's storage quota and expire with the request retention.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import * as storage from "../store/storageStore";
import type { KeyRow } from "../store/repo";
import { PlatformError } from "../errors";
import { checkOwnerQuota } from "./limits";
import type { GatewayDeps } from "./calls";

export const STORAGE_INITIATE_PATH = "/storage/upload/initiate";

const InitiateBody = z.object({
  content_type: z.string().min(1).max(255).default("application/octet-stream"),
  file_name: z.string().min(1).max(255).default("upload.bin"),
});

export interface StorageDeps extends GatewayDeps {
  readonly authenticate: (req: FastifyRequest) => Promise<KeyRow | undefined>;
}

/** The answer to an initiate call: where to PUT the bytes and the URL that serves them afterwards. */
export async function initiateUpload(deps: StorageDeps, key: KeyRow | undefined, rawBody: unknown, base: string) {
  if (!key) throw new PlatformError(401, "unauthorized", "uploading files needs an API key: send 'Authorization: Key <key_id>:<key_secret>'");
  const body = InitiateBody.parse(parseJson(rawBody));
  const id = randomUUID();
  const token = randomBytes(32).toString("hex");
  // The file name is the last path segment of its URL: keep it a plain name.
  const fileName = body.file_name.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 255);
  await storage.createPendingFile(deps.db, { id, owner: key.owner, fileName, contentType: body.content_type, uploadTokenHash: hashToken(token) });
  return {
    upload_url: `${base}/storage/upload/${id}?token=${token}`,
    file_url: `${base}/storage/files/${id}/${encodeURIComponent(fileName)}`,
  };
}

export function registerStorage(scope: FastifyInstance, deps: StorageDeps, base: (req: FastifyRequest) => string): void {
  scope.post(STORAGE_INITIATE_PATH, async (req) => initiateUpload(deps, await deps.authenticate(req), req.body, base(req)));

  scope.put("/storage/upload/:id", async (req, reply) => {
    const { id } = req.params as { id: string };
    const token = (req.query as Record<string, string | undefined>).token ?? "";
    const file = await storage.getFile(deps.db, id);
    if (!file || file.status !== "pending" || !tokenMatches(token, file.upload_token_hash)) {
      throw new PlatformError(403, "forbidden", "this upload URL is not valid (unknown, already used, or expired)");
    }
    const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    await checkOwnerQuota(deps.db, file.owner, bytes.length, deps.limits);
    const ref = await deps.payloads.put(id, "payload", bytes);
    const contentType = typeof req.headers["content-type"] === "string" ? req.headers["content-type"] : file.content_type;
    if (!(await storage.completeUpload(deps.db, id, ref, bytes.length, contentType))) {
      throw new PlatformError(409, "conflict", "this file was uploaded already");
    }
    return reply.status(200).send({ file_url: `${base(req)}/storage/files/${id}/${encodeURIComponent(file.file_name)}` });
  });

  scope.get("/storage/files/:id/:name", async (req, reply) => {
    const { id } = req.params as { id: string };
    const file = await storage.getFile(deps.db, id);
    const bytes = file?.status === "ready" && file.ref ? await deps.payloads.get(file.ref) : undefined;
    if (!file || !bytes) throw new PlatformError(404, "not_found", `file '${id}' not found (never uploaded, or expired)`);
    return reply
      .header("content-type", file.content_type)
      .header("content-length", String(bytes.length))
      .header("cache-control", "private, max-age=3600")
      .header("x-content-type-options", "nosniff")
      .send(bytes);
  });
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

function tokenMatches(token: string, hash: string): boolean {
  const a = Buffer.from(hashToken(token), "hex");
  const b = Buffer.from(hash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The gateway keeps bodies raw (they pass through to runners); this one is JSON. */
function parseJson(raw: unknown): unknown {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    throw new PlatformError(400, "bad_request", "the body is not JSON");
  }
}
