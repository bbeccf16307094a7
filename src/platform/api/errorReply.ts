/**
 * The one error shape of the API, `{error: {code, message, details?}}`: a
 * PlatformError as it says, a zod failure as 422 naming each bad field,
 * Fastify's own 4xx (bad JSON, body too large) as bad_request, anything else
 * as a bare 500 whose cause goes to the log only.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { PlatformError } from "../errors";
import type { Logger } from "../log";

export function errorReply(log: Logger) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof PlatformError) {
      // A 503 says when to come back (a revision in crash backoff).
      const retryAfter = err.details?.retry_after_s;
      if (typeof retryAfter === "number" && retryAfter > 0) reply.header("retry-after", String(retryAfter));
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
  };
}

/** `path.to.field: message; ...`, `(body)` for the body as a whole. */
export function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(body)"}: ${i.message}`).join("; ");
}
