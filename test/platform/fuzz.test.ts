/**
 * Every operation of the OpenAPI document the platform serves, sent bad
 * input with the admin key: bodies of wrong types, huge numbers, very long
 * strings, nested junk, arrays for objects, invalid JSON, wrong content types,
 * and bad path and query parameters. The platform must refuse each with a 4xx
 * (never a 5xx: that is a crash or an unchecked value reaching the database)
 * and must not change: the apps, environments, keys and secret names are the
 * same afterwards. Deterministic: a seeded generator, the same cases each run.
 *
 * Every case is invalid in a way the platform must notice before it acts:
 * operations that change state get bad path parameters (no real object has
 * such a name) or a body with an unknown field (every body is a strict object);
 * only GETs are also sent real names, so that bad query values reach deeper.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { beforeAllOrFailEach, TempDirs, createRevision, deploy } from "../helpers/support";

const CASES_PER_OPERATION = 20;
const METHODS = ["get", "put", "post", "delete", "patch"] as const;

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T,>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

/** Path parameter values no real object has (all invalid names, ids or hashes), already URL-encoded. */
const BAD_PATH_PARAMS = [
  "..%2F..",
  "..%2F..%2F..%2Fetc%2Fpasswd",
  "%2E%2E",
  "a".repeat(300),
  encodeURIComponent("ünïcødé-名前"),
  encodeURIComponent("💥"),
  "BAD_NAME",
  "-",
  "a--b--",
  "%00",
  "nul%00l",
  "%25",
  "%",
  "1e300",
  "-1",
  "NaN",
  "%5B%5D",
  "%7B%7D",
  "%20",
  "a%2Fb",
  "0".repeat(63) + "g",
  "00000000-0000-0000-0000-00000000000x",
  "'%3B%20DROP%20TABLE%20apps%3B--",
  "%C3%28",
  "%FF%FE",
  "%E2%80%AE",
];

/** JSON values of every wrong kind. */
function junkValue(rng: Rng, depth = 0): unknown {
  const leaves: (() => unknown)[] = [
    () => 1e300,
    () => -1,
    () => 2 ** 53,
    () => -(2 ** 63),
    () => 0.5,
    () => "NaN",
    () => "Infinity",
    () => "-0",
    () => "x".repeat(100_000),
    () => "\u0000",
    () => "💥".repeat(50),
    () => null,
    () => true,
    () => "",
    () => "1e300",
  ];
  const nested: (() => unknown)[] = [
    () => [junkValue(rng, depth + 1), junkValue(rng, depth + 1)],
    () => ({ [pick(rng, ["a", "__proto__x", "constructor", "0"])]: junkValue(rng, depth + 1) }),
    () => deep(200),
  ];
  return depth < 3 && rng() < 0.3 ? pick(rng, nested)() : pick(rng, leaves)();
}

function deep(n: number): unknown {
  let v: unknown = "bottom";
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { v };
  return v;
}

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly pathParams: readonly string[];
  readonly bodySchema?: JsonSchema;
  readonly bodyContentType?: string;
}

interface Request {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Buffer;
}

/**
 * A body that must be refused: a non-object, invalid JSON, a wrong content
 * type, or an object with an unknown field (and junk in known ones).
 */
function badBody(rng: Rng, op: Operation, i: number): { contentType?: string; body?: string | Buffer } {
  const kinds = [
    () => ({ contentType: "application/json", body: JSON.stringify(junkValue(rng)) }),
    () => ({ contentType: "application/json", body: JSON.stringify([{}, []]) }),
    () => ({ contentType: "application/json", body: pick(rng, ["{", '{"a":', "nul", "[1,,]", "\u0000", '{"a":1}x', "1e999999"]) }),
    () => ({ contentType: "application/json", body: '{"__proto__": {"admin": true}}' }),
    () => ({ contentType: "application/json", body: '{"a":'.repeat(5000) + "1" + "}".repeat(5000) }),
    () => ({ contentType: pick(rng, ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]), body: "name=x&scope=ADMIN" }),
    () => ({ contentType: "application/octet-stream", body: Buffer.from([0, 1, 2, 255]) }),
    () => ({ contentType: "application/json; charset=utf-16", body: '{"zz_unknown": 1}' }),
    () => ({ contentType: undefined, body: "garbage" }),
    // An object with the operation's own fields set to junk, and always one unknown field.
    () => {
      const obj: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(op.bodySchema?.properties ?? {})) {
        if (rng() < 0.6) obj[k] = s.type === "object" && rng() < 0.5 ? Object.fromEntries(Object.keys(s.properties ?? {}).map((p) => [p, junkValue(rng)])) : junkValue(rng);
      }
      obj[`zz_unknown_${i}`] = junkValue(rng);
      return { contentType: "application/json", body: JSON.stringify(obj) };
    },
  ];
  // An empty body only where it cannot be a valid input (a body with required fields).
  if (op.bodySchema?.required?.length) kinds.push(() => ({ contentType: "application/json", body: "" }));
  return pick(rng, kinds)();
}

const BAD_QUERIES = [
  "env=Bad%20Env",
  "env=" + "a".repeat(300),
  "env=" + encodeURIComponent("ünï"),
  "env=main&env=other",
  "env[]=x",
  "env=%00",
  "offset=-1",
  "offset=1e300",
  "offset=NaN",
  "offset=" + "9".repeat(400),
  "force=true",
  "logs=1&logs=0",
  "fal_webhook=file:///etc/passwd",
  "fal_webhook=" + "x".repeat(5000),
  "unknown=" + "y".repeat(1000),
  "%",
  "a=%ZZ",
];

const BAD_HEADERS: Record<string, string>[] = [
  { "x-fal-request-timeout": "1e300" },
  { "x-fal-request-timeout": "-1" },
  { "x-fal-target-url": "not a url" },
  { "x-fal-target-url": "https://fal.run/" },
  { "x-fal-target-url": "https://queue.fal.run/local/no-such-app/_fal/cancel" },
  { "x-fal-no-retry": "1" },
  { accept: "application/xml" },
];

/** One bad request for `op`; `realParams` are values of real objects, used for GETs only. */
function badRequest(rng: Rng, op: Operation, i: number, realParams: Record<string, string[]>): Request {
  const readOnly = op.method === "GET";
  let path = op.path;
  for (const name of op.pathParams) {
    const real = realParams[name];
    const value = readOnly && real?.length && rng() < 0.4 ? pick(rng, real) : pick(rng, BAD_PATH_PARAMS);
    path = path.replace(`{${name}}`, value);
  }
  const query = rng() < 0.6 ? `?${pick(rng, BAD_QUERIES)}` : "";
  const headers: Record<string, string> = { authorization: "", ...(rng() < 0.3 ? pick(rng, BAD_HEADERS) : {}) };
  const wantsBody = op.bodySchema !== undefined || op.bodyContentType !== undefined || rng() < 0.3;
  let body: string | Buffer | undefined;
  if (wantsBody && op.method !== "GET") {
    const b = badBody(rng, op, i);
    if (b.contentType) headers["content-type"] = b.contentType;
    body = b.body;
  }
  return { method: op.method, url: path + query, headers, body };
}

function operations(doc: { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, { schema?: JsonSchema }> } }>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const content = op.requestBody?.content ?? {};
      ops.push({
        method: m.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]),
        bodySchema: content["application/json"]?.schema,
        bodyContentType: Object.keys(content)[0],
      });
    }
  }
  return ops;
}

describe("fuzzing every operation of the OpenAPI document", () => {
  let p: TestPlatform;
  const dirs = new TempDirs();
  let realParams: Record<string, string[]> = {};

  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database: "pglite" });
    // Some state to damage: a deployed app, an app with only a revision, an environment, a key, a secret.
    const { revision } = await deploy(p.client, "target", "main", dirs.example());
    await p.client.createEnvironment("fuzz-env");
    await createRevision(p.client, "other", "fuzz-env", dirs.example());
    const key = await p.client.createKey("API", "fuzz");
    await p.client.setSecret("FUZZ_SECRET", "value", "main");
    realParams = {
      name: ["target", "other", "main"],
      id: [revision.id],
      key_id: [key.key_id],
      secret: ["FUZZ_SECRET"],
      owner: ["local"],
      alias: ["target", "other--fuzz-env"],
      path: ["", "x"],
      hash: [],
    };
  });
  afterAll(async () => {
    await p?.stop();
    dirs.removeAll();
  });

  /** What must not change: apps, environments, keys and secret names (GET /v1/...). */
  async function snapshot() {
    const get = async (path: string) => {
      const res = await fetch(p.url + path, { headers: { authorization: `Key ${p.key}` } });
      expect(res.status, path).toBe(200);
      return res.json();
    };
    const secrets = async (env: string) => ((await get(`/v1/secrets?env=${env}`)) as { name: string }[]).map((s) => s.name).sort();
    return {
      apps: await get("/v1/apps"),
      environments: await get("/v1/environments"),
      keys: await get("/v1/keys"),
      secrets: { main: await secrets("main"), "fuzz-env": await secrets("fuzz-env") },
      revisions: await get("/v1/apps/target/revisions"),
      queued: (await p.db.query<{ n: string }>("SELECT count(*) AS n FROM requests"))[0].n,
    };
  }

  it("answers every bad input with a 4xx and changes nothing", async () => {
    const doc = (await (await fetch(`${p.url}/openapi.json`)).json()) as Parameters<typeof operations>[0];
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(30);
    const before = await snapshot();

    const rng = mulberry32(0xfa1);
    const failures: string[] = [];
    let sent = 0;
    for (const op of ops) {
      for (let i = 0; i < CASES_PER_OPERATION; i++) {
        const r = badRequest(rng, op, i, realParams);
        r.headers.authorization = `Key ${p.key}`;
        const res = await fetch(p.url + r.url, { method: r.method, headers: r.headers, body: r.body });
        const text = await res.text();
        sent++;
        if (res.status >= 500) {
          const shownBody = typeof r.body === "string" ? r.body.slice(0, 200) : r.body ? `<${r.body.length} bytes>` : "<none>";
          failures.push(`${op.method} ${op.path}: ${r.method} ${r.url.slice(0, 200)} ${JSON.stringify(r.headers)} body ${shownBody} -> ${res.status} ${text.slice(0, 200)}`);
        }
      }
    }
    expect(sent).toBe(ops.length * CASES_PER_OPERATION);
    expect(failures, failures.join("\n")).toEqual([]);
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  it("refuses a NUL in any string of an otherwise valid body with a 422 naming the field (the database cannot store one)", async () => {
    const before = await snapshot();
    const cases: [string, string, unknown, string][] = [
      ["POST", "/v1/keys", { scope: "API", alias: "a\u0000b" }, "alias:"],
      ["PUT", "/v1/secrets/NUL_SECRET?env=main", { value: "x\u0000" }, "value:"],
      ["PUT", "/v1/apps/target?env=main", { scaling: { regions: ["eu\u0000"] } }, "scaling.regions.0:"],
      ["POST", "/v1/builds/plan", { requirements: ["pyfiglet\u0000"] }, "requirements.0:"],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await fetch(p.url + path, {
        method,
        headers: { authorization: `Key ${p.key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, path).toBe(422);
      expect(answer.error.message, path).toBe(`${field} must not contain a NUL character (\\u0000)`);
    }
    expect(await snapshot()).toEqual(before);
  });
});
