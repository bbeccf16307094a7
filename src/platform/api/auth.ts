/**
 * Who is calling: `Authorization: Key <key_id>:<key_secret>` resolved to a
 * stored key (through the routing cache, so the gateway's hot path does not
 * hit the database). The management API needs an ADMIN key except for
 * GET /v1/me; the gateway lets the app's auth mode decide.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { onRequestAsyncHookHandler } from "fastify";
import type { KeyRow } from "../store/repo";
import type { ResolveCache } from "../gateway/resolveCache";
import { PlatformError } from "../errors";
import { parseAuthorization, secretMatches } from "../keys";

declare module "fastify" {
  interface FastifyRequest {
    /** The caller's key, set on every /v1 request. */
    principal?: KeyRow;
  }
}

/** The caller's key, or undefined when none was sent. Throws 401 for a wrong one. Reads only the headers (a raw request will do). */
export type Authenticate = (req: { readonly headers: IncomingHttpHeaders }) => Promise<KeyRow | undefined>;

/** What the key check already knows without hashing or a lookup: `null` when it would have to work for the answer. */
export type KnownKey = (headers: IncomingHttpHeaders) => KeyRow | undefined | null;

/** The gateway's key check (keyAuthenticator): the check, and what it already knows. */
export interface KeyAuthenticator extends Authenticate {
  readonly known: KnownKey;
}

/** Authorization headers remembered as verified, at most (the memo is cleared when full). */
const MAX_VERIFIED = 10_000;

/**
 * The gateway's key check. A header whose secret was verified against the
 * cached key row is remembered with that row, so a caller's next calls skip
 * parsing and hashing; the memo holds only while that row is still the
 * cache's fresh entry (ResolveCache.isCurrentKey), so a revoked key stops
 * working exactly when it would without the memo: at once on this process,
 * within the key cache's 5 s on others. Only headers that passed the check
 * are remembered, and they are looked up by hash, never compared byte by
 * byte against a stored secret.
 */
export function keyAuthenticator(cache: ResolveCache): KeyAuthenticator {
  let verified = new Map<string, KeyRow>();
  const known: KnownKey = (headers) => {
    const header = headers.authorization;
    if (!header) return undefined;
    const row = verified.get(header);
    return row !== undefined && cache.isCurrentKey(row) ? row : null;
  };
  const check: Authenticate = async (req) => {
    const remembered = known(req.headers);
    if (remembered !== null) return remembered;
    // A header is there: `known` answers undefined only without one.
    const header = req.headers.authorization!;
    const parsed = parseAuthorization(header);
    const key = parsed && (await cache.key(parsed.keyId));
    if (!parsed || !key || key.revoked_at || !secretMatches(parsed.secret, key.secret_hash)) {
      verified.delete(header);
      throw new PlatformError(401, "unauthorized", "invalid API key");
    }
    if (verified.size >= MAX_VERIFIED) verified = new Map();
    verified.set(header, key);
    return key;
  };
  return Object.assign(check, { known });
}

/**
 * onRequest hook of /v1: a key is required, and it must be ADMIN except to
 * ask who it is. The key is read again from the database (`fresh`), not from
 * the routing cache: a key revoked by another platform process on the same
 * database must not manage anything, not even for the cache's few seconds.
 */
export function adminOnly(authenticate: Authenticate, fresh: (keyId: string) => Promise<KeyRow | undefined>): onRequestAsyncHookHandler {
  return async (req) => {
    const cached = await authenticate(req);
    if (!cached) throw new PlatformError(401, "unauthorized", "missing API key: send 'Authorization: Key <key_id>:<key_secret>'");
    const key = await fresh(cached.key_id);
    if (!key || key.revoked_at) throw new PlatformError(401, "unauthorized", "invalid API key");
    req.principal = key;
    if (key.scope !== "ADMIN" && !(req.method === "GET" && req.url.startsWith("/v1/me"))) {
      throw new PlatformError(403, "forbidden", `key ${key.key_id} has scope ${key.scope}; this call needs ADMIN`);
    }
  };
}
