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
import { registerGateway } from "../gateway/routes";
import { adminOnly, keyAuthenticator } from "./auth";
import { errorReply } from "./errorReply";
import { systemRoutes } from "./routes/system";
import { keyRoutes } from "./routes/keys";
import { environmentRoutes } from "./routes/environments";
import { appRoutes } from "./routes/apps";
import { revisionRoutes } from "./routes/revisions";
import { secretRoutes } from "./routes/secrets";
import { blobRoutes } from "./routes/blobs";
import { buildRoutes } from "./routes/builds";

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
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  const { log } = deps;

  // Blob uploads are raw bytes.
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.setErrorHandler(errorReply(log));

  // One structured line per call; the path only, never headers (they carry keys).
  app.addHook("onResponse", async (req, reply) => {
    if (req.url === "/health") return;
    // Routing caches must see this process's own changes at once.
    if (req.method !== "GET" && req.url.startsWith("/v1/")) deps.cache.invalidate();
    log.info(
      { method: req.method, path: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      "http request",
    );
  });

  const authenticate = keyAuthenticator(deps.cache);

  app.register(systemRoutes, deps);
  app.register(
    async (v1) => {
      v1.addHook("onRequest", adminOnly(authenticate));
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

  registerGateway(app, {
    db: deps.db,
    runners: deps.runners,
    dispatcher: deps.dispatcher,
    metrics: deps.metrics,
    cache: deps.cache,
    usage: deps.usage,
    log,
    authenticate,
  });
  return app;
}
