/**
 * What /v1 handlers read from a request, validated the same way everywhere:
 * the caller's owner, the `env` query (default main) and the names in the
 * path. A bad name is a 422 naming the field, like a bad body.
 */
import type { FastifyRequest } from "fastify";
import * as S from "../../contract/schemas";

/** Owner of the caller's key: every /v1 object belongs to one. */
export const owner = (req: FastifyRequest): string => req.principal!.owner;

/** The `env` query parameter; main when absent. */
export const env = (req: FastifyRequest): string => S.EnvQuery.parse(req.query).env;

/** The `:name` path parameter (an app or environment name). */
export const nameParam = (req: FastifyRequest): string => S.NameSchema.parse(param(req, "name"));

/** A path parameter as sent. */
export const param = (req: FastifyRequest, key: string): string => (req.params as Record<string, string>)[key];

/** A query parameter as sent; undefined when absent. */
export const query = (req: FastifyRequest, key: string): string | undefined => (req.query as Record<string, string | undefined>)[key];
