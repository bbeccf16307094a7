/**
 * The OpenAPI document the platform serves at /openapi.json. Bodies come from
 * the same zod schemas that validate requests, so the document cannot drift
 * from what the server accepts.
 */
import { z } from "zod";
import * as S from "../../contract/schemas";
import * as R from "../../contract/responses";

const json = (schema: z.ZodType) => ({ content: { "application/json": { schema: z.toJSONSchema(schema, { io: "input" }) } } });
const envParam = { name: "env", in: "query", required: false, schema: { type: "string", default: "main" } };
const appParam = { name: "name", in: "path", required: true, schema: { type: "string" } };
const ok = (description: string) => ({ description });
/** An answer with its body's schema (from src/contract/responses.ts). */
const okJson = (description: string, schema: z.ZodType) => ({ description, content: { "application/json": { schema: z.toJSONSchema(schema, { io: "output" }) } } });
const pathParams = (...names: string[]) => names.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } }));
const errors = {
  "401": ok("missing or invalid API key"),
  "403": ok("the key's scope does not allow this call"),
  "404": ok("no such object"),
  "409": ok("conflicts with the current state (e.g. deleting the active revision)"),
  "422": ok("invalid body, or a deploy that failed (the alias is unchanged)"),
};

export function openApiDocument(version: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "falplane platform API",
      version,
      description:
        "Control plane of a self-hosted fal-style runner platform. Every /v1 call needs `Authorization: Key <key_id>:<key_secret>`. " +
        "Errors are `{error: {code, message, details?}}`.",
    },
    components: {
      securitySchemes: { key: { type: "apiKey", in: "header", name: "Authorization", description: "Key <key_id>:<key_secret>" } },
    },
    security: [{ key: [] }],
    paths: {
      "/health": { get: { summary: "Liveness", security: [], responses: { "200": ok("platform is up") } } },
      "/openapi.json": { get: { summary: "This document", security: [], responses: { "200": ok("OpenAPI 3.1") } } },
      "/v1/me": { get: { summary: "The caller's owner and scope", responses: { "200": ok("identity"), ...errors } } },
      "/v1/environments": {
        get: { summary: "List environments", responses: { "200": ok("environments"), ...errors } },
        post: { summary: "Create an environment", requestBody: json(S.CreateEnvironmentBody), responses: { "201": ok("created"), "200": ok("already existed"), ...errors } },
      },
      "/v1/environments/{name}": {
        delete: {
          summary: "Delete an environment with its apps; refused while it has apps unless force=true; main cannot be deleted",
          parameters: [appParam, { name: "force", in: "query", schema: { type: "boolean" } }],
          responses: { "204": ok("deleted"), ...errors },
        },
      },
      "/v1/apps": { get: { summary: "List apps", parameters: [envParam], responses: { "200": ok("apps"), ...errors } } },
      "/v1/apps/{name}": {
        get: { summary: "An app: its alias, auth mode and scaling", parameters: [appParam, envParam], responses: { "200": ok("app"), ...errors } },
        put: {
          summary: "Move the alias (rolling or recreate) and/or set auth mode and runtime scaling",
          parameters: [appParam, envParam],
          requestBody: json(S.UpdateAppBody),
          responses: { "200": ok("app after the change"), ...errors },
        },
        delete: { summary: "Delete the app, its revisions and runners", parameters: [appParam, envParam], responses: { "204": ok("deleted"), ...errors } },
      },
      "/v1/apps/{name}/revisions": {
        get: { summary: "List revisions, newest first", parameters: [appParam, envParam], responses: { "200": ok("revisions"), ...errors } },
        post: {
          summary: "Create a revision (creates the app on first use); its files must have been uploaded",
          parameters: [appParam, envParam],
          requestBody: json(S.CreateRevisionBody),
          responses: { "201": ok("revision created"), "200": ok("a revision with the same content existed and is reused (reused: true)"), ...errors },
        },
      },
      "/v1/apps/{name}/rollout": {
        post: {
          summary: "Restart every runner of the app without changing revision; graceful unless force",
          parameters: [appParam, envParam],
          requestBody: json(S.RolloutBody),
          responses: { "200": ok("{restarted, force}"), ...errors },
        },
      },
      "/v1/apps/{name}/usage": { get: { summary: "Calls per caller key (shared apps bill callers)", parameters: [appParam, envParam], responses: { "200": ok("usage"), ...errors } } },
      "/v1/secrets": { get: { summary: "Secret names of an environment (never values)", parameters: [envParam], responses: { "200": ok("names"), ...errors } } },
      "/v1/secrets/{secret}": {
        put: {
          summary: "Set a secret; runners get it as an environment variable when they start (a rollout applies it)",
          parameters: [{ name: "secret", in: "path", required: true, schema: { type: "string" } }, envParam],
          requestBody: json(S.SetSecretBody),
          responses: { "204": ok("set"), ...errors },
        },
        delete: { summary: "Unset a secret", parameters: [{ name: "secret", in: "path", required: true, schema: { type: "string" } }, envParam], responses: { "204": ok("unset"), ...errors } },
      },
      "/v1/apps/{name}/runners": { get: { summary: "Runners of the app", parameters: [appParam, envParam], responses: { "200": ok("runners"), ...errors } } },
      "/v1/revisions/{id}": {
        get: { summary: "A revision", parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }], responses: { "200": ok("revision"), ...errors } },
        delete: { summary: "Delete an inactive revision", parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }], responses: { "204": ok("deleted"), ...errors } },
      },
      "/v1/blobs/missing": { post: { summary: "Which of these content hashes the platform lacks", requestBody: json(S.MissingBlobsBody), responses: { "200": ok("{missing: [...]}"), ...errors } } },
      "/v1/blobs/{hash}": {
        put: {
          summary: "Upload one file's content (application/octet-stream); the hash is checked",
          parameters: [{ name: "hash", in: "path", required: true, schema: { type: "string" } }],
          requestBody: { content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
          responses: { "204": ok("stored"), ...errors },
        },
      },
      "/v1/builds/plan": {
        post: {
          summary: "Would these requirements hit the build cache? (ready, building or missing; nothing is built)",
          requestBody: json(S.PlanBuildBody),
          responses: { "200": ok("{key, status, build_id, python_version, installer}"), ...errors },
        },
      },
      "/v1/builds/{id}": {
        get: {
          summary: "An environment build of one of the caller's revisions, with its log from offset (characters); next_offset continues it",
          parameters: [...pathParams("id"), { name: "offset", in: "query", required: false, schema: { type: "integer", minimum: 0, default: 0 } }],
          responses: { "200": ok("build with log and next_offset"), ...errors },
        },
      },
      "/v1/apps/{name}/builds": {
        get: { summary: "Environment builds of the app's revisions, newest first", parameters: [appParam, envParam], responses: { "200": ok("builds"), ...errors } },
      },
      "/v1/dashboard/apps/{name}/requests": {
        get: {
          summary: "The dashboard's recent queued requests of the app, newest first (no bodies)",
          parameters: [appParam, envParam, { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 200, default: 50 } }],
          responses: { "200": okJson("recent requests", z.array(R.DashboardRequestResponse)), ...errors },
        },
      },
      "/v1/dashboard/apps/{name}/requests/{id}/logs": {
        get: {
          summary: "The log lines of one queued request of the app (from memory while this process works on it)",
          parameters: [appParam, ...pathParams("id"), envParam],
          responses: { "200": okJson("the request's logs", R.DashboardRequestLogsResponse), ...errors },
        },
      },
      "/v1/dashboard/apps/{name}/queue": {
        get: { summary: "Requests of the app waiting and in progress now", parameters: [appParam, envParam], responses: { "200": okJson("queue depth", R.DashboardQueueResponse), ...errors } },
      },
      "/v1/dashboard/apps/{name}/history": {
        get: {
          summary: "The last hour of the app's queue depth and request latency (p50, p95), sampled by the platform every 5 s, oldest first; kept in memory",
          parameters: [appParam, envParam],
          responses: { "200": okJson("samples", R.DashboardHistoryResponse), ...errors },
        },
      },
      "/v1/platform": { get: { summary: "Platform version, database and the disk its environments take", responses: { "200": ok("platform info"), ...errors } } },
      "/v1/keys": {
        get: { summary: "List keys (never their secrets)", responses: { "200": ok("keys"), ...errors } },
        post: { summary: "Create a key; the secret is shown once", requestBody: json(S.CreateKeyBody), responses: { "201": ok("{key_id, key_secret, scope}"), ...errors } },
      },
      "/v1/keys/{key_id}": { delete: { summary: "Revoke a key", parameters: [{ name: "key_id", in: "path", required: true, schema: { type: "string" } }], responses: { "204": ok("revoked"), ...errors } } },
      "/metrics": { get: { summary: "Prometheus metrics", security: [], responses: { "200": ok("text exposition format") } } },
      "/queue/{owner}/{alias}/{path}": {
        post: {
          summary: "Submit to the persistent queue (fal queue protocol); ?fal_webhook=<url>; headers X-Fal-Request-Timeout, X-Fal-No-Retry",
          security: [{ key: [] }, {}],
          parameters: [
            { name: "owner", in: "path", required: true, schema: { type: "string" } },
            { name: "alias", in: "path", required: true, schema: { type: "string" } },
            { name: "path", in: "path", required: true, schema: { type: "string" } },
            { name: "fal_webhook", in: "query", required: false, schema: { type: "string" } },
          ],
          responses: { "200": ok("{request_id, response_url, status_url, cancel_url, queue_position}") },
        },
      },
      "/queue/{owner}/{alias}/requests/{id}/status": { get: { parameters: [...pathParams("owner", "alias", "id"), { name: "logs", in: "query", required: false, schema: { type: "string" } }], summary: "IN_QUEUE (queue_position), IN_PROGRESS (logs) or COMPLETED (logs, metrics, error)", security: [{ key: [] }, {}], responses: { "200": ok("completed"), "202": ok("waiting or in progress") } } },
      "/queue/{owner}/{alias}/requests/{id}": { get: { parameters: pathParams("owner", "alias", "id"), summary: "The result, as the runner answered (status and body)", security: [{ key: [] }, {}], responses: { "200": ok("result"), "400": ok("not completed yet") } } },
      "/queue/{owner}/{alias}/requests/{id}/cancel": { put: { parameters: pathParams("owner", "alias", "id"), summary: "Cancel: a queued request is dropped (its result is 499); a running one gets a cancel call on its runner", security: [{ key: [] }, {}], responses: { "202": ok("CANCELLATION_REQUESTED"), "400": ok("ALREADY_COMPLETED") } } },
      "/fal/proxy": {
        post: { summary: "The official clients' proxy convention: the real target (https://[queue.]fal.run/<owner>/<alias>/...) in x-fal-target-url; also GET and PUT", security: [{ key: [] }, {}], responses: { "200": ok("as the target") } },
      },
      "/run/{owner}/{alias}/{path}": {
        post: {
          summary: "Synchronous call of an app endpoint (never retried). alias is `app` in main, `app--env` elsewhere.",
          security: [{ key: [] }, {}],
          parameters: [
            { name: "owner", in: "path", required: true, schema: { type: "string" } },
            { name: "alias", in: "path", required: true, schema: { type: "string" } },
            { name: "path", in: "path", required: true, schema: { type: "string" }, description: "endpoint path, may be empty" },
          ],
          responses: { "200": ok("the app's answer, as the runner gave it"), "401": ok("key required (private/shared apps)"), "404": ok("no such app or no active revision"), "504": ok("request_timeout passed") },
        },
      },
    },
  };
}
