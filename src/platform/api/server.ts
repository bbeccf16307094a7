/**
 * The platform's HTTP server: the management API under /v1, the synchronous
 * gateway under /run, health and the OpenAPI document.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { z } from "zod";
import { createHash } from "node:crypto";
import type { Db } from "../store/db";
import * as repo from "../store/repo";
import type { KeyRow } from "../store/repo";
import { PlatformError, invalid, notFound } from "../errors";
import { generateKey, parseAuthorization, secretMatches } from "../keys";
import type { PlatformService } from "../service";
import type { RunnerManager } from "../runners";
import type { Logger } from "../log";
import * as S from "../../contract/schemas";
import { openApiDocument } from "./openapi";
import { registerGateway } from "../gateway/routes";
import type { Dispatcher } from "../queue/dispatcher";
import type { PlatformMetrics } from "../metrics";
import { presentApp, presentRevision, presentRunner } from "./present";
import type { ResolveCache } from "../gateway/resolveCache";
import type { UsageRecorder } from "../gateway/usage";
import type { EnvironmentBuilder } from "../builds/builder";
import { registerBuildRoutes } from "./routes/builds";

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

declare module "fastify" {
  interface FastifyRequest {
    principal?: KeyRow;
  }
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  const { db, service, log } = deps;

  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof PlatformError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message, details: err.details } });
    }
    if (err instanceof z.ZodError) {
      return reply.status(422).send({ error: { code: "invalid", message: formatZodError(err), details: { issues: err.issues } } });
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ error: { code: "bad_request", message: e.message } });
    }
    log.error({ err: String(err), path: req.url }, "internal error");
    return reply.status(500).send({ error: { code: "internal", message: "internal error" } });
  });

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

  app.get("/health", async () => ({ status: "ok", database: db.kind }));
  app.get("/openapi.json", async () => openApiDocument(deps.version));

  /** Resolves the caller's key, or undefined when none was sent. Throws 401 for a wrong one. */
  const authenticate = async (req: FastifyRequest): Promise<KeyRow | undefined> => {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const parsed = parseAuthorization(header);
    const key = parsed && (await deps.cache.key(parsed.keyId));
    if (!parsed || !key || key.revoked_at || !secretMatches(parsed.secret, key.secret_hash)) {
      throw new PlatformError(401, "unauthorized", "invalid API key");
    }
    return key;
  };

  app.register(
    async (v1) => {
      v1.addHook("onRequest", async (req) => {
        const key = await authenticate(req);
        if (!key) throw new PlatformError(401, "unauthorized", "missing API key: send 'Authorization: Key <key_id>:<key_secret>'");
        req.principal = key;
        if (key.scope !== "ADMIN" && !(req.method === "GET" && req.url.startsWith("/v1/me"))) {
          throw new PlatformError(403, "forbidden", `key ${key.key_id} has scope ${key.scope}; this call needs ADMIN`);
        }
      });
      const owner = (req: FastifyRequest) => req.principal!.owner;
      const env = (req: FastifyRequest) => S.EnvQuery.parse(req.query).env;
      const appName = (req: FastifyRequest) => S.NameSchema.parse((req.params as { name: string }).name);

      v1.get("/me", async (req) => ({ owner: owner(req), key_id: req.principal!.key_id, scope: req.principal!.scope }));

      // ---- environments
      v1.get("/environments", async (req) =>
        (await repo.listEnvironments(db, owner(req))).map((e) => ({ name: e.name, created_at: e.created_at, apps: Number(e.apps) })),
      );
      v1.post("/environments", async (req, reply) => {
        const body = S.CreateEnvironmentBody.parse(req.body);
        const created = await repo.ensureEnvironment(db, owner(req), body.name);
        return reply.status(created ? 201 : 200).send({ name: body.name, created });
      });
      v1.delete("/environments/:name", async (req, reply) => {
        const name = appName(req);
        const force = String((req.query as Record<string, string>).force) === "true";
        if (name === "main") throw new PlatformError(409, "conflict", "environment 'main' always exists and cannot be deleted");
        if (!(await repo.getEnvironment(db, owner(req), name))) throw notFound(`environment '${name}'`);
        const apps = await repo.listApps(db, owner(req), name);
        if (apps.length > 0 && !force) {
          throw new PlatformError(
            409,
            "conflict",
            `environment '${name}' still has ${apps.length} app(s) (${apps.map((a) => a.name).join(", ")}); deleting it deletes them and their secrets: pass force=true`,
          );
        }
        for (const a of apps) await service.deleteApp(owner(req), a.name, name);
        await repo.deleteEnvironment(db, owner(req), name);
        return reply.status(204).send();
      });

      // ---- apps and aliases
      v1.get("/apps", async (req) => {
        const q = req.query as Record<string, string>;
        const apps = await repo.listApps(db, owner(req), q.env ? env(req) : undefined);
        return apps.map(presentApp);
      });
      v1.get("/apps/:name", async (req) => presentApp(await service.requireApp(owner(req), appName(req), env(req))));
      v1.put("/apps/:name", async (req) => {
        const body = S.UpdateAppBody.parse(req.body);
        return presentApp(await service.updateApp(owner(req), appName(req), env(req), body));
      });
      v1.delete("/apps/:name", async (req, reply) => {
        await service.deleteApp(owner(req), appName(req), env(req));
        return reply.status(204).send();
      });

      // ---- revisions
      v1.get("/apps/:name/revisions", async (req) => {
        const a = await service.requireApp(owner(req), appName(req), env(req));
        return (await repo.listRevisions(db, a.id)).map((r) => presentRevision(r, a));
      });
      v1.post("/apps/:name/revisions", async (req, reply) => {
        const body = S.CreateRevisionBody.parse(req.body);
        const rev = await service.createRevision(owner(req), appName(req), env(req), body);
        const a = (await repo.getAppById(db, rev.app_id))!;
        // 200 with reused: true when a revision with the same content existed (nothing was built).
        return reply.status(rev.reused ? 200 : 201).send({ ...presentRevision(rev, a), reused: Boolean(rev.reused), build: rev.build });
      });
      v1.get("/revisions/:id", async (req) => {
        const rev = await repo.getRevision(db, (req.params as { id: string }).id);
        const a = rev && (await repo.getAppById(db, rev.app_id));
        if (!rev || !a || a.owner !== owner(req)) throw notFound(`revision '${(req.params as { id: string }).id}'`);
        return presentRevision(rev, a);
      });
      v1.delete("/revisions/:id", async (req, reply) => {
        await service.deleteRevision(owner(req), (req.params as { id: string }).id);
        return reply.status(204).send();
      });

      // ---- rollouts and usage
      v1.post("/apps/:name/rollout", async (req) => {
        const body = S.RolloutBody.parse(req.body ?? {});
        const restarted = await service.rollout(owner(req), appName(req), env(req), body.force);
        return { restarted, force: body.force };
      });
      v1.get("/apps/:name/usage", async (req) => {
        const a = await service.requireApp(owner(req), appName(req), env(req));
        await deps.usage.flush();
        return (await repo.listUsage(db, a.id)).map((u) => ({ caller: u.caller, calls: Number(u.calls), last_at: u.last_at }));
      });

      // ---- secrets (names only ever leave the platform; values go to runners as env vars)
      v1.get("/secrets", async (req) => {
        await service.requireEnvironment(owner(req), env(req));
        return repo.listSecretNames(db, owner(req), env(req));
      });
      v1.put("/secrets/:secret", async (req, reply) => {
        const name = S.SecretName.parse((req.params as { secret: string }).secret);
        const body = S.SetSecretBody.parse(req.body);
        await service.requireEnvironment(owner(req), env(req));
        await repo.setSecret(db, owner(req), env(req), name, body.value);
        return reply.status(204).send();
      });
      v1.delete("/secrets/:secret", async (req, reply) => {
        const name = S.SecretName.parse((req.params as { secret: string }).secret);
        if (!(await repo.unsetSecret(db, owner(req), env(req), name))) throw notFound(`secret '${name}' in environment '${env(req)}'`);
        return reply.status(204).send();
      });

      // ---- runners
      v1.get("/apps/:name/runners", async (req) => {
        const a = await service.requireApp(owner(req), appName(req), env(req));
        const live = new Map(deps.runners.list(a.id).map((r) => [r.id, r]));
        const rows = (await repo.listRunners(db, a.id)).map((row) => presentRunner(row, live.get(row.id)));
        // A revision whose runners keep failing setup waits before the next start: show it.
        const wait = a.current_revision ? deps.runners.backoffRemaining(a.current_revision) : 0;
        if (wait > 0) {
          rows.push({
            runner_id: "",
            revision: a.current_revision!,
            state: "CRASH_BACKOFF",
            machine_type: "",
            in_flight_requests: 0,
            uptime: 0,
            pid: null,
            host: "",
            error: `${deps.runners.backoffFailures(a.current_revision!)} consecutive setup failure(s); next start in ${wait} s`,
          });
        }
        return rows;
      });

      // ---- blobs (content-addressed app files)
      v1.post("/blobs/missing", async (req) => {
        const body = S.MissingBlobsBody.parse(req.body);
        return { missing: await repo.missingBlobs(db, body.hashes) };
      });
      v1.put("/blobs/:hash", async (req, reply) => {
        const hash = (req.params as { hash: string }).hash;
        if (!Buffer.isBuffer(req.body)) throw invalid("send the file content as application/octet-stream");
        const actual = createHash("sha256").update(req.body).digest("hex");
        if (actual !== hash) throw invalid(`content hash is ${actual}, not ${hash}`);
        await repo.putBlob(db, hash, req.body);
        return reply.status(204).send();
      });

      // ---- environment builds and the platform's disk use
      registerBuildRoutes(v1, { db, builder: deps.builder, service, version: deps.version, owner, env, appName });

      // ---- keys
      v1.get("/keys", async (req) =>
        (await repo.listKeys(db, owner(req))).map((k) => ({ key_id: k.key_id, scope: k.scope, alias: k.alias, created_at: k.created_at })),
      );
      v1.post("/keys", async (req, reply) => {
        const body = S.CreateKeyBody.parse(req.body ?? {});
        const k = generateKey();
        await repo.insertKey(db, { keyId: k.keyId, secretHash: k.secretHash, scope: body.scope, owner: owner(req), alias: body.alias });
        return reply.status(201).send({ key_id: k.keyId, key_secret: k.secret, scope: body.scope, alias: body.alias });
      });
      v1.delete("/keys/:key_id", async (req, reply) => {
        const ok = await repo.revokeKey(db, owner(req), (req.params as { key_id: string }).key_id);
        if (!ok) throw notFound(`key '${(req.params as { key_id: string }).key_id}'`);
        return reply.status(204).send();
      });
    },
    { prefix: "/v1" },
  );

  app.get("/metrics", async (_req, reply) => {
    const m = deps.metrics;
    m.runners.reset();
    for (const [state, n] of deps.runners.countByState()) m.runners.set({ state }, n);
    return reply.header("content-type", m.registry.contentType).send(await m.registry.metrics());
  });

  registerGateway(app, {
    db,
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

export function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(body)"}: ${i.message}`).join("; ");
}

