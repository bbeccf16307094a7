/**
 * API keys: `Authorization: Key <key_id>:<key_secret>`. Only a hash of the
 * secret is stored. Secrets are 32 random bytes, so a plain SHA-256 is enough
 * (no dictionary to guard against); comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { z } from "zod";
import type { KeyScope } from "../contract";

/** What a key may do; the wire contract declares the values. */
export type Scope = z.output<typeof KeyScope>;

export interface NewKey {
  readonly keyId: string;
  readonly secret: string;
  readonly secretHash: string;
}

export function generateKey(): NewKey {
  const keyId = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { keyId, secret, secretHash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Parses an Authorization header; undefined when it is absent or malformed. */
export function parseAuthorization(header: string | undefined): { keyId: string; secret: string } | undefined {
  if (!header) return undefined;
  const m = /^Key\s+([^:\s]+):(\S+)$/.exec(header.trim());
  return m ? { keyId: m[1], secret: m[2] } : undefined;
}
