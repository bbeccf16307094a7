/**
 * What /v1 handlers read from a request, validated the same way everywhere:
 * the caller's owner, the `env` query (default main) and the names in the
 * path. A bad name is a 422 naming the field, like a bad body.
 */
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import * as S from "../../contract/schemas";

/** Owner of the caller's key: every /v1 object belongs to one. */
export const owner = (req: FastifyRequest): string => req.principal!.owner;

/** The `env` query parameter; main when absent. */
export const env = (req: FastifyRequest): string => S.EnvQuery.parse(req.query).env;

/**
 * A path parameter checked with `schema`. Parsed as `{[key]: value}` so a
 * failure's zod path is the parameter's name (`name: …`), not the body's.
 */
export const checkedParam = <T>(req: FastifyRequest, key: string, schema: z.ZodType<T>): T =>
  z.object({ [key]: schema }).parse({ [key]: param(req, key) })[key] as T;

/** The `:name` path parameter (an app or environment name). */
export const nameParam = (req: FastifyRequest): string => checkedParam(req, "name", S.NameSchema);

/** The `:secret` path parameter (an environment variable name). */
export const secretParam = (req: FastifyRequest): string => checkedParam(req, "secret", S.SecretName);

/**
 * The body of a call whose fields are all optional: `{}` when none was sent.
 * Only a missing body counts as empty; a JSON `null` is a body, and a wrong one.
 */
export const bodyOrEmpty = (req: FastifyRequest): unknown => (req.body === undefined ? {} : req.body);

/** A path parameter as sent. */
export const param = (req: FastifyRequest, key: string): string => (req.params as Record<string, string>)[key];

/** A query parameter as sent; undefined when absent. */
export const query = (req: FastifyRequest, key: string): string | undefined => (req.query as Record<string, string | undefined>)[key];
