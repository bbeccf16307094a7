/**
 * Synchronous calls: POST /run/<owner>/<alias>[/<path>] waits for the app's
 * answer and relays it as the runner gave it. Never retried (the queue is the
 * protocol for retries).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { randomUUID } from "node:crypto";
import type { Db } from "../store/db";
import * as repo from "../repo";
import type { KeyRow } from "../repo";
import type { RunnerManager } from "../runners";
import type { Logger } from "../log";
import { PlatformError } from "../errors";
import { parseAliasName } from "../../spec/catalog";
import { authorizeCall } from "./auth";

export interface SyncGatewayDeps {
  readonly db: Db;
  readonly runners: RunnerManager;
  readonly log: Logger;
  readonly authenticate: (req: FastifyRequest) => Promise<KeyRow | undefined>;
}

/** Headers of the caller's request that reach the runner. */
const FORWARDED = ["content-type", "accept", "user-agent"];

export function registerSyncGateway(server: FastifyInstance, deps: SyncGatewayDeps): void {
  server.register(async (scope) => {
    // Bodies pass through to the runner untouched.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

    const handler = async (req: FastifyRequest, reply: import("fastify").FastifyReply) => {
      const params = req.params as { owner: string; alias: string; "*"?: string };
      const path = "/" + (params["*"] ?? "");
      const requestId = randomUUID();
      const { app: name, environment } = parseAliasName(params.alias);
      const app = await repo.getApp(deps.db, params.owner, name, environment);
      if (!app || !app.current_revision) {
        throw new PlatformError(404, "not_found", `no deployed app '${params.owner}/${params.alias}'`);
      }
      authorizeCall(app, await deps.authenticate(req));
      const revision = (await repo.getRevision(deps.db, app.current_revision))!;
      const log = deps.log.child({ request_id: requestId, app: name, env: environment });

      const deadline = AbortSignal.timeout(app.scaling.request_timeout * 1000);
      const lease = await deps.runners.acquire(app, revision, deadline).catch((err) => {
        if (deadline.aborted) throw new PlatformError(504, "timeout", `no runner became free within request_timeout (${app.scaling.request_timeout} s)`);
        throw err;
      });
      const started = Date.now();
      try {
        const headers: Record<string, string> = {
          "x-fal-request-id": requestId,
          "x-fal-endpoint": `${params.owner}/${params.alias}${path === "/" ? "" : path}`,
        };
        for (const h of FORWARDED) {
          const v = req.headers[h];
          if (typeof v === "string") headers[h] = v;
        }
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const res = await fetch(lease.url + path, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: body.length > 0 ? body : "{}",
          signal: deadline,
        });
        const out = Buffer.from(await res.arrayBuffer());
        log.info({ status: res.status, ms: Date.now() - started, runner_id: lease.runner.id }, "sync request");
        reply.header("x-fal-request-id", requestId);
        const ct = res.headers.get("content-type");
        if (ct) reply.header("content-type", ct);
        return reply.status(res.status).send(out);
      } catch (err) {
        if (deadline.aborted) throw new PlatformError(504, "timeout", `request_timeout (${app.scaling.request_timeout} s) passed`);
        log.warn({ err: String(err), runner_id: lease.runner.id }, "runner connection failed");
        throw new PlatformError(502, "runner_unavailable", "the runner did not answer");
      } finally {
        lease.release();
      }
    };
    scope.post("/run/:owner/:alias", handler);
    scope.post("/run/:owner/:alias/*", handler);
  });
}
