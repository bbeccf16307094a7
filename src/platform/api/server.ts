/**
 * The platform's HTTP server, as wiring only: the management API under /v1
 * (one plugin per resource group in routes/, behind the key check of
 * auth.ts), the gateway under /run, /queue and /fal/proxy, and the keyless
 * health, OpenAPI and metrics endpoints. What a call does is in the services;
 * how answers look is in present.ts.
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { Db } from "../store/db";
import type { PlatformService } from "../service";
import type { RunnerManager } from "../runners";
import type { Logger } from "../log";
import type { Dispatcher } from "../queue/dispatcher";
import type { PlatformMetrics } from "../metrics";
import type { ResolveCache } from "../gateway/resolveCache";
import type { UsageRecorder } from "../gateway/usage";
import type { EnvironmentBuilder } from "../builds/builder";
import type { WebhookPolicy } from "../queue/webhookTarget";
import type { IncomingMessage, ServerResponse } from "node:http";
import { registerGateway } from "../gateway/routes";
import { gatewayFastPath } from "../gateway/fastPath";
import type { PayloadStore } from "../store/payloadStore";
import type { RequestLimits } from "../gateway/limits";
import * as repo from "../store/repo";
import { adminOnly, keyAuthenticator } from "./auth";
import { errorReply } from "./errorReply";
import { PlatformError } from "../errors";
import { systemRoutes } from "./routes/system";
import { keyRoutes } from "./routes/keys";
import { environmentRoutes } from "./routes/environments";
import { appRoutes } from "./routes/apps";
import { revisionRoutes } from "./routes/revisions";
import { secretRoutes } from "./routes/secrets";
import { blobRoutes } from "./routes/blobs";
import { buildRoutes } from "./routes/builds";
import { dashboardRoutes } from "../dashboard/dashboard";

export interface ServerDeps {
  readonly db: Db;
  readonly service: PlatformService;
  readonly runners: RunnerManager;
  readonly log: Logger;
  readonly version: string;
  readonly dispatcher: Dispatcher;
  readonly metrics: PlatformMetrics;
  readonly cache: ResolveCache;
  readonly usage: UsageRecorder;
  readonly builder: EnvironmentBuilder;
  /** Where queued bodies and results too big for a row live. */
  readonly payloads: PayloadStore;
  /** Body size, per-owner quotas, retention. */
  readonly limits: RequestLimits;
  /** Where queued requests' webhooks may go (queue/webhookTarget.ts). */
  readonly webhookPolicy: WebhookPolicy;
  /** How runners are isolated, for `GET /v1/platform`. */
  readonly sandbox: "bwrap" | "none";
  /** Region of this process, for `GET /v1/platform`. */
  readonly region: string;
  /** Serve HTTPS with this key and certificate (PEM) instead of HTTP. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer };
  /**
   * Proxies whose X-Forwarded-Proto/-Host/-For are believed (addresses or
   * CIDR ranges), so the queue's response_url and status_url name the address
   * callers used. Default none: the headers are ignored.
   */
  readonly trustProxy?: readonly string[];
}

declare module "fastify" {
  interface FastifyRequest {
    /** The gateway wrote this call's access line itself (`sync request`, `stream request`): no `http request` line. */
    accessLogged: boolean;
  }
}

/** Path (`a.b.0`) of the first string or key holding a NUL in a parsed JSON value; undefined when none does. Iterative: bodies may nest deeply. */
function nulPath(root: unknown): string | undefined {
  const stack: [unknown, string][] = [[root, ""]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === "string") {
      if (v.includes("\0")) return path;
    } else if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (k.includes("\0")) return p;
        stack.push([child, p]);
      }
    }
  }
  return undefined;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  // One instance type for both: the HTTPS variant differs only in its server.
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024 * 1024,
    ...(deps.tls ? { https: { key: deps.tls.key, cert: deps.tls.cert } } : {}),
    trustProxy: deps.trustProxy && deps.trustProxy.length > 0 ? [...deps.trustProxy] : false,
  }) as unknown as FastifyInstance;
  const { log } = deps;

  // JSON as Fastify parses it (prototype poisoning refused), except that an
  // empty body is no body: clients send `content-type: application/json` on a
  // DELETE or a bodyless POST, which Fastify's own parser answers with 400.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") return done(null, undefined);
    return parseJson(req, text, (err, value) => {
      if (err) return done(err, undefined);
      // No field of the API may hold a NUL (not even a secret: it becomes an
      // environment variable), and the database cannot store one: refused
      // here for every body at once, naming where it is.
      const at = nulPath(value);
      if (at !== undefined) return done(new PlatformError(422, "invalid", `${at || "(body)"}: must not contain a NUL character (\\u0000)`), undefined);
      return done(null, value);
    });
  });
  // Blob uploads are raw bytes.
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.setErrorHandler(errorReply(log));

  // One structured line per call; the path only, never headers (they carry keys).
  // A gateway call answered by a runner has its own info line (accessLogged):
  // this one is then at debug level.
  // Callback hooks here and below: an async hook costs a promise per request.
  app.decorateRequest("accessLogged", false);
  app.addHook("onResponse", (req, reply, done) => {
    const url = req.url;
    if (url !== "/health") {
      // Routing caches must see this process's own changes at once.
      if (req.method !== "GET" && url.startsWith("/v1/")) deps.cache.invalidate();
      const q = url.indexOf("?");
      const fields = { method: req.method, path: q < 0 ? url : url.slice(0, q), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
      if (req.accessLogged) log.debug(fields, "http request");
      else log.info(fields, "http request");
    }
    done();
  });

  // A NUL in the path is no name, id or endpoint of anything; refused before a
  // handler passes it to the database, which cannot store it (a 500 otherwise).
  app.addHook("onRequest", (req, _reply, done) => {
    const url = req.url;
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    done(path.includes("\0") || (path.includes("%") && /%00/i.test(path)) ? new PlatformError(400, "bad_request", "the path contains a NUL character (%00)") : undefined);
  });

  const authenticate = keyAuthenticator(deps.cache);

  app.register(systemRoutes, deps);
  app.register(dashboardRoutes, deps);
  app.register(
    async (v1) => {
      v1.addHook("onRequest", adminOnly(authenticate, (keyId) => repo.getKey(deps.db, keyId)));
      v1.register(keyRoutes, deps);
      v1.register(environmentRoutes, deps);
      v1.register(appRoutes, deps);
      v1.register(revisionRoutes, deps);
      v1.register(secretRoutes, deps);
      v1.register(blobRoutes, deps);
      v1.register(buildRoutes, deps);
    },
    { prefix: "/v1" },
  );

  const gatewayDeps = {
    db: deps.db,
    runners: deps.runners,
    dispatcher: deps.dispatcher,
    metrics: deps.metrics,
    cache: deps.cache,
    usage: deps.usage,
    payloads: deps.payloads,
    limits: deps.limits,
    webhookPolicy: deps.webhookPolicy,
    log,
    authenticate,
  };
  registerGateway(app, gatewayDeps);

  // The common sync call skips Fastify (gateway/fastPath.ts); everything else,
  // and every call once closing starts, reaches Fastify's own handler as before.
  const [fastifyHandler, ...others] = app.server.listeners("request") as ((req: IncomingMessage, res: ServerResponse) => void)[];
  if (fastifyHandler && others.length === 0) {
    const fast = gatewayFastPath(gatewayDeps);
    app.server.removeListener("request", fastifyHandler);
    app.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      if (!fast.handle(req, res)) fastifyHandler.call(app.server, req, res);
    });
    app.addHook("preClose", (done) => {
      fast.close();
      done();
    });
  }
  return app;
}
