/**
 * HTTP routes of the gateway:
 *   POST /run/<owner>/<alias>[/<path>]                      synchronous
 *   POST /queue/<owner>/<alias>[/<path>][?fal_webhook=URL]  submit
 *   GET  /queue/<owner>/<alias>/requests/<id>/status[?logs=1]
 *   GET  /queue/<owner>/<alias>/requests/<id>
 *   PUT  /queue/<owner>/<alias>/requests/<id>/cancel
 *   POST /run/<owner>/<alias>[/<path>]/stream               streamed (server-sent events, stream.ts)
 *   GET  /queue/<owner>/<alias>/requests/<id>/status/stream[?logs=1]  status as server-sent events
 *   ANY  /fal/proxy   with x-fal-target-url: https://[queue.]fal.run/<owner>/<alias>/...
 * The last is the official clients' proxy convention (`proxyUrl`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { KeyRow } from "../store/repo";
import { PlatformError } from "../errors";
import { gatewayErrorReply } from "../api/errorReply";
import { initiateUpload, registerStorage, STORAGE_INITIATE_PATH } from "./storage";
import { refuseReservedPath } from "./callHeaders";
import { queueCall, syncCall, type GatewayAnswer, type GatewayCall, type GatewayDeps } from "./calls";
import { formatBytes } from "./limits";
import { isStreamPath, statusStream, statusStreamId, streamCall } from "./stream";
import { CallerGone } from "./callSignals";

export const PROXY_PATH = "/fal/proxy";

export function registerGateway(
  server: FastifyInstance,
  deps: GatewayDeps & { authenticate: (req: FastifyRequest) => Promise<KeyRow | undefined> },
): void {
  server.register(async (scope) => {
    // Bodies pass through to runners untouched.
    scope.removeAllContentTypeParsers();
    const maxBody = deps.limits.maxBodyBytes;
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: maxBody }, (_req, body, done) => done(null, body));
    const tooLarge = (size?: number) =>
      new PlatformError(
        413,
        "payload_too_large",
        `the request body${size !== undefined ? ` (${size} bytes)` : ""} exceeds the maximum body size of ${formatBytes(maxBody)} (${maxBody} bytes)`,
        { limit: maxBody },
      );
    // Refused before a byte of the body is read, when the length is declared.
    // A callback hook: an async one costs a promise per call.
    scope.addHook("onRequest", (req, _reply, done) => {
      const declared = Number(req.headers["content-length"]);
      done(Number.isFinite(declared) && declared > maxBody ? tooLarge(declared) : undefined);
    });
    // A chunked body that grows past the limit: Fastify's own 413, told in our words.
    // Errors in fal's shape ({detail}), which the official clients read.
    const reply = gatewayErrorReply(deps.log);
    scope.setErrorHandler((err, req, res) => reply((err as { code?: string }).code === "FST_ERR_CTP_BODY_TOO_LARGE" ? tooLarge() : err, req, res));

    // The address the caller used: behind a trusted proxy, its X-Forwarded-Proto and -Host.
    const base = (req: FastifyRequest) => `${req.protocol}://${req.host}`;
    const toCall = async (req: FastifyRequest, owner: string, alias: string, rest: string, search: string, clientGone?: CallerGone): Promise<GatewayCall> => {
      const subpath = rest.charCodeAt(0) === 47 /* "/" */ ? "/" + rest.replace(/^\/+/, "") : "/" + rest;
      // Every way in (/run, /queue, /fal/proxy) passes here, so no call reaches a runner's own /health or /_fal/… paths.
      refuseReservedPath(subpath, `${owner}/${alias}`);
      // The queue protocol's answers name the queue's address; a sync call (the ones with clientGone) never does.
      const queueBase = clientGone ? undefined : `${base(req)}/queue`;
      return {
        method: req.method,
        owner,
        alias,
        subpath,
        query: new URLSearchParams(search),
        headers: req.headers,
        body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        get queueBase() {
          return queueBase ?? `${base(req)}/queue`;
        },
        key: await deps.authenticate(req),
        clientGone,
      };
    };
    const send = (reply: FastifyReply, a: GatewayAnswer) => {
      if (a.headers) for (const k in a.headers) reply.header(k, a.headers[k]);
      if (a.accessLogged) reply.request.accessLogged = true;
      const sent = reply.status(a.status).send(a.body);
      a.after?.();
      return sent;
    };
    const search = (req: FastifyRequest) => (req.url.includes("?") ? req.url.slice(req.url.indexOf("?") + 1) : "");
    const params = (req: FastifyRequest) => req.params as { owner: string; alias: string; "*"?: string };

    // fal's client asks for a stream by path: `.../stream` (fal.stream), `.../status/stream` (subscribe, mode "streaming").
    const runCall = (call: GatewayCall) => (isStreamPath(call.subpath) ? streamCall : syncCall)(deps, call);
    const queueOrStatusStream = (call: GatewayCall) => {
      const id = call.method === "GET" ? statusStreamId(call.subpath) : undefined;
      return id ? statusStream(deps, call, id) : queueCall(deps, call);
    };
    const sync = async (req: FastifyRequest, reply: FastifyReply) => {
      const p = params(req);
      return send(reply, await runCall(await toCall(req, p.owner, p.alias, p["*"] ?? "", search(req), clientGone(reply))));
    };
    const queue = async (req: FastifyRequest, reply: FastifyReply) => {
      const p = params(req);
      return send(reply, await queueOrStatusStream(await toCall(req, p.owner, p.alias, p["*"] ?? "", search(req))));
    };
    registerStorage(scope, deps, base);
    scope.post("/run/:owner/:alias", sync);
    scope.post("/run/:owner/:alias/*", sync);
    for (const method of ["GET", "POST", "PUT"] as const) {
      scope.route({ method, url: "/queue/:owner/:alias", handler: queue });
      scope.route({ method, url: "/queue/:owner/:alias/*", handler: queue });
    }

    scope.route({
      method: ["GET", "POST", "PUT"],
      url: PROXY_PATH,
      handler: async (req, reply) => {
        const target = req.headers["x-fal-target-url"];
        if (typeof target !== "string") throw new PlatformError(400, "bad_request", "missing x-fal-target-url header");
        let url: URL;
        try {
          url = new URL(target);
        } catch {
          throw new PlatformError(400, "bad_request", `x-fal-target-url is not a URL: ${JSON.stringify(target)}`);
        }
        // fal.storage.upload asks the REST host for an upload URL.
        if (url.hostname.startsWith("rest.") && url.pathname === STORAGE_INITIATE_PATH) {
          return reply.send(await initiateUpload(deps, await deps.authenticate(req), req.body, base(req)));
        }
        const [owner, alias, ...rest] = url.pathname.replace(/^\/+/, "").split("/");
        if (!owner || !alias) throw new PlatformError(400, "bad_request", `x-fal-target-url names no <owner>/<app>: ${JSON.stringify(target)}`);
        const isQueue = url.hostname.startsWith("queue.");
        const call = await toCall(req, owner, alias, rest.join("/"), url.search.replace(/^\?/, ""), isQueue ? undefined : clientGone(reply));
        return send(reply, isQueue ? await queueOrStatusStream(call) : await runCall(call));
      },
    });
  });
}

/** The caller hanging up: the connection closes before the answer was sent. */
function clientGone(reply: FastifyReply): CallerGone {
  return new CallerGone(reply.raw);
}
