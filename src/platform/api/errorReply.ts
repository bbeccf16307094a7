/**
 * The error shapes: the management API's `{error: {code, message, details?}}`
 * and the gateway's fal-compatible `{detail, code}`. Either way a
 * PlatformError says what it says, a zod failure is a 422 naming each bad
 * field, Fastify's own 4xx (bad JSON, body too large) is bad_request, and
 * anything else is a bare 500 whose cause goes to the log only.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { PlatformError } from "../errors";
import type { Logger } from "../log";

interface ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** What any error means to the caller; the cause of a 500 goes to the log only. */
function classify(err: unknown, url: string, log: Logger): ErrorAnswer {
  if (err instanceof PlatformError) return { status: err.status, code: err.code, message: err.message, details: err.details };
  if (err instanceof z.ZodError) return { status: 422, code: "invalid", message: formatZodError(err), details: { issues: err.issues } };
  const e = err as { statusCode?: number; message?: string };
  if (e.statusCode && e.statusCode < 500) return { status: e.statusCode, code: "bad_request", message: e.message ?? "bad request" };
  log.error({ err: String(err), path: url }, "internal error");
  return { status: 500, code: "internal", message: "internal error" };
}

function send(reply: FastifyReply, a: ErrorAnswer, body: object) {
  // A 503 says when to come back (a revision in crash backoff).
  const retryAfter = a.details?.retry_after_s;
  if (typeof retryAfter === "number" && retryAfter > 0) reply.header("retry-after", String(retryAfter));
  return reply.status(a.status).send(body);
}

/** The management API's errors: `{error: {code, message, details?}}`. */
export function errorReply(log: Logger) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const a = classify(err, req.url, log);
    return send(reply, a, { error: { code: a.code, message: a.message, details: a.details } });
  };
}

/**
 * The gateway's errors, in fal's shape: `{detail: "<message>"}`, which the
 * official clients show (`err.body.detail`), plus `code`, machine-readable.
 */
export function gatewayErrorReply(log: Logger) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const a = classify(err, req.url, log);
    return send(reply, a, { detail: a.message, code: a.code });
  };
}

/**
 * gatewayErrorReply's answer for a request served without Fastify (the
 * gateway's fast path, gateway/fastPath.ts): the same status, `retry-after`
 * and `{detail, code}` body, with the content type Fastify gives an object.
 */
export function gatewayErrorAnswer(err: unknown, url: string, log: Logger): { status: number; headers: Record<string, string>; body: string } {
  const a = classify(err, url, log);
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  const retryAfter = a.details?.retry_after_s;
  if (typeof retryAfter === "number" && retryAfter > 0) headers["retry-after"] = String(retryAfter);
  return { status: a.status, headers, body: JSON.stringify({ detail: a.message, code: a.code }) };
}

/** `path.to.field: message; ...`, `(body)` for the body as a whole. */
export function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(body)"}: ${i.message}`).join("; ");
}
