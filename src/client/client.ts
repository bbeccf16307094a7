/**
 * Typed client of the platform API. Used by falctl and by the dynamic
 * providers, so it depends on nothing but Node built-ins and global fetch:
 * dynamic providers are serialized by value and run in a plain Node process.
 * Its types come from the wire contract (./types.ts), imported as types only.
 */
import type {
  ApiKey,
  App,
  AppBuild,
  Build,
  BuildLog,
  BuildPlan,
  CreatedEnvironment,
  CreatedKey,
  CreatedRevision,
  CreateRevisionRequest,
  Environment,
  Health,
  KeyScope,
  Me,
  MissingBlobs,
  PlatformInfo,
  Revision,
  Rollout,
  Runner,
  SecretInfo,
  UpdateAppRequest,
  Usage,
} from "./types";

export interface ClientConfig {
  /** Base URL of the platform, e.g. http://127.0.0.1:8787 */
  readonly url: string;
  /** `key_id:key_secret`. */
  readonly key?: string;
  /** Per-call timeout. Default 15 minutes (a rolling deploy waits for setup). */
  readonly timeoutMs?: number;
}

/** An error answer of the platform. Its message never contains the API key. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    // Set explicitly: dynamic providers serialize this class by value, and the
    // serialized form does not keep what super(message) set; Pulumi reports e.message.
    this.message = message;
    this.name = "ApiError";
  }
}

export class PlatformClient {
  private readonly base: string;

  constructor(private readonly cfg: ClientConfig) {
    this.base = cfg.url.replace(/\/+$/, "");
  }

  // ---- identity and health
  health(): Promise<Health> {
    return this.call("GET", "/health");
  }
  me(): Promise<Me> {
    return this.call("GET", "/v1/me");
  }

  // ---- environments
  listEnvironments(): Promise<Environment[]> {
    return this.call("GET", "/v1/environments");
  }
  createEnvironment(name: string): Promise<CreatedEnvironment> {
    return this.call("POST", "/v1/environments", { name });
  }
  deleteEnvironment(name: string, force = false): Promise<void> {
    return this.call("DELETE", `/v1/environments/${enc(name)}${force ? "?force=true" : ""}`);
  }

  // ---- apps
  listApps(env?: string): Promise<App[]> {
    return this.call("GET", `/v1/apps${env ? `?env=${enc(env)}` : ""}`);
  }
  getApp(name: string, env = "main"): Promise<App> {
    return this.call("GET", `/v1/apps/${enc(name)}?env=${enc(env)}`);
  }
  /** The app, or undefined when it does not exist. */
  async findApp(name: string, env = "main"): Promise<App | undefined> {
    try {
      return await this.getApp(name, env);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }
  updateApp(name: string, env: string, body: UpdateAppRequest): Promise<App> {
    return this.call("PUT", `/v1/apps/${enc(name)}?env=${enc(env)}`, body);
  }
  deleteApp(name: string, env = "main"): Promise<void> {
    return this.call("DELETE", `/v1/apps/${enc(name)}?env=${enc(env)}`);
  }

  // ---- revisions
  listRevisions(name: string, env = "main"): Promise<Revision[]> {
    return this.call("GET", `/v1/apps/${enc(name)}/revisions?env=${enc(env)}`);
  }
  /** Creates a revision, or returns an existing one with the same content (`reused: true`). */
  createRevision(name: string, env: string, body: CreateRevisionRequest): Promise<CreatedRevision> {
    return this.call("POST", `/v1/apps/${enc(name)}/revisions?env=${enc(env)}`, body);
  }
  getRevision(id: string): Promise<Revision> {
    return this.call("GET", `/v1/revisions/${enc(id)}`);
  }
  deleteRevision(id: string): Promise<void> {
    return this.call("DELETE", `/v1/revisions/${enc(id)}`);
  }

  // ---- rollouts, usage, secrets
  rollout(name: string, env = "main", force = false): Promise<Rollout> {
    return this.call("POST", `/v1/apps/${enc(name)}/rollout?env=${enc(env)}`, { force });
  }
  usage(name: string, env = "main"): Promise<Usage[]> {
    return this.call("GET", `/v1/apps/${enc(name)}/usage?env=${enc(env)}`);
  }
  listSecrets(env = "main"): Promise<SecretInfo[]> {
    return this.call("GET", `/v1/secrets?env=${enc(env)}`);
  }
  setSecret(name: string, value: string, env = "main"): Promise<void> {
    return this.call("PUT", `/v1/secrets/${enc(name)}?env=${enc(env)}`, { value });
  }
  unsetSecret(name: string, env = "main"): Promise<void> {
    return this.call("DELETE", `/v1/secrets/${enc(name)}?env=${enc(env)}`);
  }

  // ---- runners
  listRunners(name: string, env = "main"): Promise<Runner[]> {
    return this.call("GET", `/v1/apps/${enc(name)}/runners?env=${enc(env)}`);
  }

  // ---- environment builds
  /** Would these requirements hit the build cache? (the deploy check asks) */
  planBuild(requirements: readonly string[], pythonVersion: string | null): Promise<BuildPlan> {
    return this.call("POST", "/v1/builds/plan", { requirements, python_version: pythonVersion });
  }
  /** A build and its log from `offset` (characters); `next_offset` continues it. */
  getBuild(id: string, offset = 0): Promise<BuildLog> {
    return this.call("GET", `/v1/builds/${enc(id)}?offset=${offset}`);
  }
  listBuilds(name: string, env = "main"): Promise<AppBuild[]> {
    return this.call("GET", `/v1/apps/${enc(name)}/builds?env=${enc(env)}`);
  }
  /**
   * Follows a build until it ends, handing each new log line to onLine;
   * resolves with the finished build (READY or FAILED; the caller decides).
   */
  async followBuild(id: string, onLine: (line: string) => void | Promise<void>, pollMs = 300): Promise<Build> {
    let offset = 0;
    let pending = "";
    for (;;) {
      const b = await this.getBuild(id, offset);
      offset = b.next_offset;
      pending += b.log;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) await onLine(line);
      if (b.status !== "BUILDING") {
        if (pending) await onLine(pending);
        return b;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  platformInfo(): Promise<PlatformInfo> {
    return this.call("GET", "/v1/platform");
  }

  // ---- files
  async missingBlobs(hashes: readonly string[]): Promise<string[]> {
    return (await this.call<MissingBlobs>("POST", "/v1/blobs/missing", { hashes })).missing;
  }
  putBlob(hash: string, content: Buffer): Promise<void> {
    return this.call("PUT", `/v1/blobs/${enc(hash)}`, content);
  }

  // ---- keys
  listKeys(): Promise<ApiKey[]> {
    return this.call("GET", "/v1/keys");
  }
  createKey(scope: KeyScope, alias = ""): Promise<CreatedKey> {
    return this.call("POST", "/v1/keys", { scope, alias });
  }
  revokeKey(keyId: string): Promise<void> {
    return this.call("DELETE", `/v1/keys/${enc(keyId)}`);
  }

  // ---- calling apps
  /** Synchronous call of `owner/alias[/path]`; returns status and parsed JSON body. */
  async run(endpointId: string, input: unknown, path = ""): Promise<{ status: number; body: unknown; requestId: string | null }> {
    const res = await this.raw("POST", `/run/${endpointId}${path ? `/${path.replace(/^\/+/, "")}` : ""}`, input);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: return the text.
    }
    return { status: res.status, body, requestId: res.headers.get("x-fal-request-id") };
  }

  private async raw(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.cfg.key) headers.authorization = `Key ${this.cfg.key}`;
    let payload: string | Buffer | undefined;
    if (Buffer.isBuffer(body)) {
      headers["content-type"] = "application/octet-stream";
      payload = body;
    } else if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    try {
      return await fetch(this.base + path, {
        method,
        headers,
        body: payload,
        signal: AbortSignal.timeout(this.cfg.timeoutMs ?? 15 * 60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiError(0, "unreachable", `cannot reach the platform at ${this.base} (${method} ${path.split("?")[0]}): ${cause}`);
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })?.error;
      throw new ApiError(
        res.status,
        e?.code ?? "http_error",
        `${method} ${path.split("?")[0]} failed (${res.status}): ${e?.message ?? text.slice(0, 500)}`,
        e?.details,
      );
    }
    return parsed as T;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
