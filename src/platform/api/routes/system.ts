/**
 * What needs no key: liveness at /health (for load balancers and `falctl up`),
 * this API's OpenAPI document, and Prometheus metrics.
 */
import type { FastifyPluginAsync } from "fastify";
import type { ServerDeps } from "../server";
import { openApiDocument } from "../openapi";
import type { HealthResponse, Sent } from "../../../contract";

export const systemRoutes: FastifyPluginAsync<Pick<ServerDeps, "db" | "runners" | "metrics" | "version">> = async (app, d) => {
  app.get("/health", async () => ({ status: "ok", database: d.db.kind }) satisfies Sent<typeof HealthResponse>);

  app.get("/openapi.json", async () => openApiDocument(d.version));

  app.get("/metrics", async (_req, reply) => {
    const m = d.metrics;
    // Runner counts are read now rather than tracked on every state change.
    m.runners.reset();
    for (const [state, n] of d.runners.countByState()) m.runners.set({ state }, n);
    return reply.header("content-type", m.registry.contentType).send(await m.registry.metrics());
  });
};
