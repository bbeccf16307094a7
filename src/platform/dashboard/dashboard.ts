/**
 * The dashboard: one HTML page, one small vanilla JS module and one style
 * sheet (the files next to this one), served at /dashboard by the platform's
 * own server, plus four read-only JSON calls under /v1/dashboard that the
 * management API lacks (recent requests, a request's logs, queue depth now,
 * and the last hour of queue depth and latency that ./metricsHistory.ts
 * samples every 5 s while the server runs), and the machine types' GPU
 * counts at /dashboard/machine-types.json (the catalog, no secret).
 * Everything else the page shows comes from the ordinary /v1 API, called by
 * the browser with the key the user typed (kept in sessionStorage only).
 *
 * No inline script or style anywhere: the page is served with a strict
 * Content-Security-Policy (script-src 'self'), and may not be framed.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { z } from "zod";
import type { ServerDeps } from "../api/server";
import * as repo from "../store/repo";
import * as ds from "../store/dashboardStore";
import { adminOnly, keyAuthenticator } from "../api/auth";
import { env, nameParam, owner, param } from "../api/request";
import { PlatformError } from "../errors";
import { MACHINE_TYPES } from "../../model/catalog";
import type { Sent } from "../../contract";
import type * as R from "../../contract/responses";
import { MetricsHistory } from "./metricsHistory";

const STATIC_DIR = join(__dirname, "static");

/** The page's own files, read once; [content type, body]. */
const FILES: Record<string, [string, string]> = {
  "/dashboard": ["text/html; charset=utf-8", "index.html"],
  "/dashboard/app.js": ["text/javascript; charset=utf-8", "app.js"],
  "/dashboard/style.css": ["text/css; charset=utf-8", "style.css"],
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", CONTENT_SECURITY_POLICY)
    .header("x-frame-options", "DENY")
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin")
    .header("cache-control", "no-cache");
}

const RecentQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) });

export const dashboardRoutes: FastifyPluginAsync<Pick<ServerDeps, "db" | "service" | "cache" | "dispatcher" | "log">> = async (app, d) => {
  const files = new Map(Object.entries(FILES).map(([path, [type, file]]) => [path, [type, readFileSync(join(STATIC_DIR, file), "utf8")] as const]));
  // GPUs per machine type, for the runners table's GPU column (× the revision's num_gpus).
  files.set("/dashboard/machine-types.json", [
    "application/json; charset=utf-8",
    JSON.stringify(Object.fromEntries(Object.entries(MACHINE_TYPES).map(([name, t]) => [name, { gpus: t.gpus, gpu_memory_gb: t.gpuMemoryGb }]))),
  ]);
  for (const [path, [type, body]] of files) {
    app.get(path, async (_req, reply) => secure(reply).type(type).send(body));
  }
  app.get("/dashboard/", async (_req, reply) => secure(reply).redirect("/dashboard"));

  // Sampled while the server is up: started when it is ready, stopped (and a
  // sample in flight awaited) when it closes, before the database does.
  const history = new MetricsHistory(d.db, { log: d.log });
  app.addHook("onReady", async () => history.start());
  app.addHook("onClose", async () => history.stop());

  app.register(
    async (v1) => {
      v1.addHook("onRequest", adminOnly(keyAuthenticator(d.cache), (keyId) => repo.getKey(d.db, keyId)));

      v1.get("/apps/:name/requests", async (req) => {
        const a = await d.service.requireApp(owner(req), nameParam(req), env(req));
        const { limit } = RecentQuery.parse(req.query);
        const rows = await ds.recentRequests(d.db, a.owner, a.id, limit);
        return rows.map((r): Sent<typeof R.DashboardRequestResponse> => ({
          id: r.id,
          path: r.path,
          status: r.status,
          caller: r.caller,
          attempts: r.attempts,
          retries: Math.max(0, r.attempts - 1),
          runner_id: r.runner_id,
          result_status: r.result_status,
          error: r.error,
          error_type: r.error_type,
          created_at: iso(r.created_at),
          started_at: r.started_at && iso(r.started_at),
          completed_at: r.completed_at && iso(r.completed_at),
          wait_ms: r.wait_ms === null ? null : Math.round(r.wait_ms),
          run_ms: r.run_ms === null ? null : Math.round(r.run_ms),
          payload_size: r.payload_size,
          result_size: r.result_size,
        }));
      });

      v1.get("/apps/:name/requests/:id/logs", async (req) => {
        const a = await d.service.requireApp(owner(req), nameParam(req), env(req));
        const id = param(req, "id");
        const row = await ds.requestLogs(d.db, a.owner, a.id, id);
        if (!row) throw new PlatformError(404, "not_found", `request '${id}' of app '${a.name}' not found`);
        // A request this process is working on has its lines in memory until it completes.
        const logs = (row.status === "IN_PROGRESS" && d.dispatcher.liveLogs(row.id)) || row.logs;
        const answer: Sent<typeof R.DashboardRequestLogsResponse> = { id: row.id, status: row.status, runner_id: row.runner_id, logs };
        return answer;
      });

      v1.get("/apps/:name/queue", async (req) => {
        const a = await d.service.requireApp(owner(req), nameParam(req), env(req));
        const answer: Sent<typeof R.DashboardQueueResponse> = { ...(await ds.queueDepth(d.db, a.owner, a.id)), at: new Date().toISOString() };
        return answer;
      });

      v1.get("/apps/:name/history", async (req) => {
        const a = await d.service.requireApp(owner(req), nameParam(req), env(req));
        const answer: Sent<typeof R.DashboardHistoryResponse> = {
          interval_s: history.intervalMs / 1000,
          window_s: history.windowMs / 1000,
          samples: history.samples(a.id),
        };
        return answer;
      });
    },
    { prefix: "/v1/dashboard" },
  );
};

const iso = (t: Date | string): string => (t instanceof Date ? t.toISOString() : t);
