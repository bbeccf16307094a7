/**
 * The management API as a caller sees it: authentication, key scopes, keys
 * stored as hashes, environments, validation messages and the OpenAPI
 * document. Runs on PGlite and on PostgreSQL.
 */
import { afterAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { PlatformClient } from "../../src/client/client";
import { DATABASES, beforeAllOrFailEach, TempDirs, apiError, createRevision, raw, revisionBody, uploadDir } from "../helpers/support";

describe.each(DATABASES)("platform API on %s", (database) => {
  let p: TestPlatform;
  const dirs = new TempDirs();

  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database });
  });
  afterAll(async () => {
    await p?.stop();
    dirs.removeAll();
  });

  it(`keeps its state in ${database}`, async () => {
    expect(p.db.kind).toBe(database);
    expect(await p.client.health()).toEqual({ status: "ok", database });
  });

  describe("authentication", () => {
    it("answers 401 without a key, naming the header to send", async () => {
      const res = await raw(p.url, "GET", "/v1/apps");
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("unauthorized");
      expect(res.body.error.message).toContain("Authorization: Key <key_id>:<key_secret>");
    });

    it("answers 401 for a wrong secret, an unknown key id and a malformed header", async () => {
      const [keyId] = p.key.split(":");
      for (const authorization of [`Key ${keyId}:not-the-secret`, "Key nosuchkey:whatever-secret", "Bearer abc", `Key ${keyId}`]) {
        const res = await raw(p.url, "GET", "/v1/me", { authorization });
        expect(res.status, authorization).toBe(401);
        expect(res.body.error.code).toBe("unauthorized");
      }
    });

    it("answers 401 for a key once it is revoked", async () => {
      const k = await p.client.createKey("ADMIN", "short-lived");
      const key = `${k.key_id}:${k.key_secret}`;
      expect((await raw(p.url, "GET", "/v1/me", { key })).status).toBe(200);
      await p.client.revokeKey(k.key_id);
      const res = await raw(p.url, "GET", "/v1/me", { key });
      expect(res.status).toBe(401);
      expect(res.body.error.message).toContain("invalid API key");
    });

    it("gives an API-scope key its identity but 403 on every management call", async () => {
      const k = await p.client.createKey("API", "caller");
      const api = new PlatformClient({ url: p.url, key: `${k.key_id}:${k.key_secret}` });
      expect(await api.me()).toEqual({ owner: "local", key_id: k.key_id, scope: "API" });
      const calls: [string, () => Promise<unknown>][] = [
        ["list apps", () => api.listApps()],
        ["list environments", () => api.listEnvironments()],
        ["create environment", () => api.createEnvironment("sneaky")],
        ["update app", () => api.updateApp("any", "main", { auth_mode: "public" })],
        ["list keys", () => api.listKeys()],
        ["mint an ADMIN key", () => api.createKey("ADMIN")],
        ["revoke a key", () => api.revokeKey(p.key.split(":")[0])],
        ["upload a file", () => api.putBlob("0".repeat(64), Buffer.from("x"))],
      ];
      for (const [what, call] of calls) {
        const err = await apiError(call());
        expect(err.status, what).toBe(403);
        expect(err.code).toBe("forbidden");
        expect(err.message).toContain("needs ADMIN");
      }
      // None of it happened.
      expect((await p.client.listEnvironments()).map((e) => e.name)).not.toContain("sneaky");
      expect((await p.client.listKeys()).map((x) => x.key_id)).toContain(p.key.split(":")[0]);
    });
  });

  describe("keys", () => {
    it("creates a key whose secret is shown once, lists it without secrets, and revokes it", async () => {
      const k = await p.client.createKey("API", "ci pipeline");
      expect(k.key_id).toMatch(/^[0-9a-f]{16}$/);
      expect(k.key_secret.length).toBeGreaterThanOrEqual(40);
      expect(k).toMatchObject({ scope: "API", alias: "ci pipeline" });

      const listed = await p.client.listKeys();
      const mine = listed.find((x) => x.key_id === k.key_id);
      expect(mine).toMatchObject({ key_id: k.key_id, scope: "API", alias: "ci pipeline" });
      expect(JSON.stringify(listed)).not.toContain(k.key_secret);
      expect(Object.keys(mine!).sort()).toEqual(["alias", "created_at", "key_id", "scope"]);

      await p.client.revokeKey(k.key_id);
      expect((await p.client.listKeys()).map((x) => x.key_id)).not.toContain(k.key_id);
      const again = await apiError(p.client.revokeKey(k.key_id));
      expect(again.status).toBe(404);
    });

    it("stores only a sha256 of each secret: no row of api_keys holds a secret in plaintext", async () => {
      const k = await p.client.createKey("ADMIN", "stored");
      const adminSecret = p.key.split(":")[1];
      const rows = await p.db.query<Record<string, unknown>>("SELECT * FROM api_keys");
      expect(rows.length).toBeGreaterThanOrEqual(2);
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(k.key_secret);
      expect(dump).not.toContain(adminSecret);
      const row = rows.find((r) => r.key_id === k.key_id)!;
      expect(row.secret_hash).toBe(createHash("sha256").update(k.key_secret).digest("hex"));
      const admin = rows.find((r) => r.key_id === p.key.split(":")[0])!;
      expect(admin.secret_hash).toBe(createHash("sha256").update(adminSecret).digest("hex"));
      // Nor do the platform's logs.
      expect(JSON.stringify(p.logs)).not.toContain(k.key_secret);
      expect(JSON.stringify(p.logs)).not.toContain(adminSecret);
    });
  });

  describe("environments", () => {
    it("always has main, which cannot be deleted (409)", async () => {
      expect((await p.client.listEnvironments()).map((e) => e.name)).toContain("main");
      const err = await apiError(p.client.deleteEnvironment("main", true));
      expect(err.status).toBe(409);
      expect(err.code).toBe("conflict");
      expect(err.message).toContain("'main'");
      expect((await p.client.listEnvironments()).map((e) => e.name)).toContain("main");
    });

    it("creates an environment once (201, then 200) and deletes an empty one", async () => {
      const first = await raw(p.url, "POST", "/v1/environments", { key: p.key, body: { name: "scratch" } });
      expect(first).toEqual({ status: 201, body: { name: "scratch", created: true } });
      const second = await raw(p.url, "POST", "/v1/environments", { key: p.key, body: { name: "scratch" } });
      expect(second).toEqual({ status: 200, body: { name: "scratch", created: false } });
      await p.client.deleteEnvironment("scratch");
      expect((await p.client.listEnvironments()).map((e) => e.name)).not.toContain("scratch");
      expect((await apiError(p.client.deleteEnvironment("scratch"))).status).toBe(404);
    });

    it("refuses to delete an environment with apps (409 naming them) unless force=true, which deletes the apps", async () => {
      await p.client.createEnvironment("doomed");
      const dir = dirs.example();
      await createRevision(p.client, "alpha", "doomed", dir);
      await createRevision(p.client, "beta", "doomed", dir);
      const env = (await p.client.listEnvironments()).find((e) => e.name === "doomed");
      expect(env?.apps).toBe(2);

      const err = await apiError(p.client.deleteEnvironment("doomed"));
      expect(err.status).toBe(409);
      expect(err.message).toContain("alpha");
      expect(err.message).toContain("beta");
      expect(err.message).toContain("force=true");
      expect((await p.client.listApps("doomed")).map((a) => a.name)).toEqual(["alpha", "beta"]);

      await p.client.deleteEnvironment("doomed", true);
      expect((await p.client.listEnvironments()).map((e) => e.name)).not.toContain("doomed");
      expect((await p.client.listApps()).filter((a) => a.environment === "doomed")).toEqual([]);
      expect((await apiError(p.client.getApp("alpha", "doomed"))).status).toBe(404);
    });

    it("refuses to create a revision in an environment that does not exist (404)", async () => {
      const err = await apiError(createRevision(p.client, "ghost", "nowhere", dirs.example()));
      expect(err.status).toBe(404);
      expect(err.message).toContain("environment 'nowhere' does not exist");
    });
  });

  describe("validation", () => {
    it("answers 422 with messages that name the offending field", async () => {
      const cases: { path: string; method: string; body: unknown; field: string }[] = [
        { method: "POST", path: "/v1/environments", body: { name: "Not_Valid" }, field: "name:" },
        { method: "POST", path: "/v1/environments", body: { name: "ok", colour: "red" }, field: "colour" },
        { method: "PUT", path: "/v1/apps/whatever?env=main", body: { scaling: { max_concurrency: -1 } }, field: "scaling.max_concurrency" },
        { method: "PUT", path: "/v1/apps/whatever?env=main", body: { strategy: "yolo" }, field: "strategy" },
        { method: "POST", path: "/v1/keys", body: { scope: "ROOT" }, field: "scope" },
        {
          method: "POST",
          path: "/v1/apps/x/revisions?env=main",
          body: {
            source_object: "app.py",
            files: {},
            code_settings: { max_multiplexing: 0, startup_timeout: 1, machine_types: ["GPU-Z9"], num_gpus: 0 },
            scaling: {},
            auth_mode: "private",
          },
          field: "source_object",
        },
      ];
      for (const c of cases) {
        const res = await raw(p.url, c.method, c.path, { key: p.key, body: c.body });
        expect(res.status, JSON.stringify(c.body)).toBe(422);
        expect(res.body.error.code).toBe("invalid");
        expect(res.body.error.message, JSON.stringify(c.body)).toContain(c.field);
      }
      // A revision body names every bad field, nested ones by their path.
      const rev = await raw(p.url, "POST", "/v1/apps/x/revisions?env=main", { key: p.key, body: cases[5].body });
      for (const field of ["source_object", "code_settings.max_multiplexing", "code_settings.machine_types.0", "scaling.keep_alive"]) {
        expect(rev.body.error.message).toContain(field);
      }
      // Nothing was created by the rejected calls.
      expect(await p.client.findApp("x", "main")).toBeUndefined();
    });

    it("bounds every scaling value (catalog.ts SCALING_BOUNDS): 422 naming the field and the bound, nothing changed", async () => {
      await createRevision(p.client, "bounded", "main", dirs.example());
      const before = await p.client.getApp("bounded");
      const cases: [unknown, string][] = [
        // Accepted before, then a queued call crashed the platform with a timer overflow.
        [{ request_timeout: 5000000 }, "scaling.request_timeout: must be at most 86400 (seconds), got 5000000"],
        [{ keep_alive: 1e15 }, "scaling.keep_alive: must be at most 604800 (seconds), got 1000000000000000"],
        [{ max_concurrency: 2 ** 53 }, "scaling.max_concurrency: must be at most 1000 (runners)"],
        [{ scaling_delay: 3601 }, "scaling.scaling_delay: must be at most 3600 (seconds), got 3601"],
        [{ regions: Array.from({ length: 33 }, (_, i) => `r${i}`) }, "scaling.regions: at most 32 regions"],
        [{ regions: ["x".repeat(65)] }, "scaling.regions.0: a region name has at most 64 characters"],
      ];
      for (const [scaling, message] of cases) {
        const res = await raw(p.url, "PUT", "/v1/apps/bounded?env=main", { key: p.key, body: { scaling } });
        expect(res.status, JSON.stringify(scaling)).toBe(422);
        expect(res.body.error.code).toBe("invalid");
        expect(res.body.error.message).toContain(message);
      }
      const code = { ...revisionBody({}).code_settings, num_gpus: 9, startup_timeout: 86401 };
      const rev = await raw(p.url, "POST", "/v1/apps/bounded/revisions?env=main", { key: p.key, body: { ...revisionBody({}), code_settings: code } });
      expect(rev.status).toBe(422);
      expect(rev.body.error.message).toContain("code_settings.num_gpus: must be at most 8 (GPUs), got 9");
      expect(rev.body.error.message).toContain("code_settings.startup_timeout: must be at most 86400 (seconds), got 86401");
      expect(await p.client.getApp("bounded")).toEqual(before);
      expect(await p.client.listRevisions("bounded", "main")).toHaveLength(1);
    });

    it("refuses revision file names outside the revision and bad modes (422 naming the file and the rule), creating nothing", async () => {
      const files = await uploadDir(p.client, dirs.example());
      const entry = Object.values(files)[0];
      const cases: [Record<string, unknown>, string][] = [
        [{ "/tmp/x.py": entry }, "not absolute"],
        [{ "../../../tmp/x.py": entry }, "must not contain a .. segment"],
        [{ "a/../../x.py": entry }, "must not contain a .. segment"],
        [{ "a//x.py": entry }, "empty segment"],
        [{ "dir/": entry }, "empty segment"],
        [{ "a\\x.py": entry }, "backslash"],
        [{ "a\u0000.py": entry }, "NUL"],
        [{ ["d/".repeat(600) + "x.py"]: entry }, "longer than 1024 characters"],
        [{ "app.py": { ...entry, mode: 1e15 } }, "files.app.py.mode"],
        [{ "app.py": { ...entry, mode: 0o10000 } }, "must be a file mode from 0 to 0o7777"],
        [{ "app.py": { ...entry, mode: -1 } }, "files.app.py.mode"],
      ];
      for (const [bad, rule] of cases) {
        const body = revisionBody({ ...files, ...bad } as never);
        const res = await raw(p.url, "POST", "/v1/apps/filey/revisions?env=main", { key: p.key, body });
        expect(res.status, Object.keys(bad)[0]).toBe(422);
        expect(res.body.error.message, Object.keys(bad)[0]).toContain(rule);
        // A bad name is quoted in the message (a name may itself contain dots or slashes);
        // a NUL is refused by the JSON parser already, before the schema (server.ts).
        if (!rule.includes("mode") && rule !== "NUL") expect(res.body.error.message).toContain(JSON.stringify(Object.keys(bad)[0]));
      }
      const many = Object.fromEntries(Array.from({ length: 10001 }, (_, i) => [`f${i}.py`, entry]));
      const res = await raw(p.url, "POST", "/v1/apps/filey/revisions?env=main", { key: p.key, body: revisionBody(many as never) });
      expect(res.status).toBe(422);
      expect(res.body.error.message).toContain("files: at most 10000 files, got 10001");
      expect(await p.client.findApp("filey", "main")).toBeUndefined();
    });

    it("names a bad path parameter by its name, not (body)", async () => {
      const app = await raw(p.url, "GET", "/v1/apps/BAD_NAME", { key: p.key });
      expect(app.status).toBe(422);
      expect(app.body.error.message).toMatch(/^name: /);
      expect(app.body.error.message).not.toContain("(body)");
      const secret = await raw(p.url, "DELETE", "/v1/secrets/not-a-var", { key: p.key });
      expect(secret.status).toBe(422);
      expect(secret.body.error.message).toMatch(/^secret: /);
    });

    it("takes an empty body sent as application/json as no body (a DELETE), not a 400", async () => {
      await p.client.createEnvironment("emptybody");
      const res = await fetch(`${p.url}/v1/environments/emptybody`, {
        method: "DELETE",
        headers: { authorization: `Key ${p.key}`, "content-type": "application/json" },
      });
      expect(res.status).toBe(204);
      expect((await p.client.listEnvironments()).map((e) => e.name)).not.toContain("emptybody");
      // Bad JSON is still a 400, and a body that is not there where one is needed a 422.
      const bad = await fetch(`${p.url}/v1/environments`, { method: "POST", headers: { authorization: `Key ${p.key}`, "content-type": "application/json" }, body: "{nope" });
      expect(bad.status).toBe(400);
      const none = await fetch(`${p.url}/v1/environments`, { method: "POST", headers: { authorization: `Key ${p.key}`, "content-type": "application/json" } });
      expect(none.status).toBe(422);
    });

    it("answers 422 for an environment name in a query that is not a valid name", async () => {
      const res = await raw(p.url, "GET", "/v1/apps/thing?env=Bad%20Env", { key: p.key });
      expect(res.status).toBe(422);
      expect(res.body.error.message).toContain("env");
    });
  });

  describe("OpenAPI", () => {
    it("serves an OpenAPI 3.1 document without a key that lists the /v1 paths with their operations", async () => {
      const res = await raw(p.url, "GET", "/openapi.json");
      expect(res.status).toBe(200);
      const doc = res.body;
      expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
      expect(doc.info.title).toEqual(expect.any(String));
      expect(doc.info.version).toEqual(expect.any(String));
      expect(doc.components.securitySchemes.key).toMatchObject({ type: "apiKey", in: "header", name: "Authorization" });
      const paths = Object.keys(doc.paths);
      for (const path of [
        "/v1/me",
        "/v1/environments",
        "/v1/environments/{name}",
        "/v1/apps",
        "/v1/apps/{name}",
        "/v1/apps/{name}/revisions",
        "/v1/apps/{name}/runners",
        "/v1/revisions/{id}",
        "/v1/blobs/missing",
        "/v1/blobs/{hash}",
        "/v1/keys",
        "/v1/keys/{key_id}",
      ]) {
        expect(paths, path).toContain(path);
      }
      type Param = { name: string; in: string };
      type Op = { responses?: object; parameters?: Param[] };
      const methods = ["get", "put", "post", "delete", "patch"];
      for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Op> & { parameters?: Param[] }>)) {
        const ops = Object.entries(item).filter(([m]) => methods.includes(m)) as [string, Op][];
        expect(ops.length, path).toBeGreaterThan(0);
        for (const [m, op] of ops) {
          expect(Object.keys(op.responses ?? {}).length, `${m} ${path}`).toBeGreaterThan(0);
          // Every {param} of a /v1 path is declared as a path parameter (of the operation or the path item).
          if (!path.startsWith("/v1/")) continue;
          const declared = [...(item.parameters ?? []), ...(op.parameters ?? [])];
          for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
            expect(declared.some((x) => x.name === name && x.in === "path"), `${m} ${path} declares {${name}}`).toBe(true);
          }
        }
      }
      // Request bodies carry the JSON schemas the server validates with.
      const put = doc.paths["/v1/apps/{name}"].put.requestBody.content["application/json"].schema;
      expect(Object.keys(put.properties)).toEqual(expect.arrayContaining(["revision_id", "strategy", "auth_mode", "scaling"]));
      expect(put.properties.strategy.enum).toEqual(["rolling", "recreate"]);
    });
  });
});
