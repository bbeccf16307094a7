/**
 * The gateway's fast path: the common synchronous call, `POST
 * /run/<owner>/<alias>[/<path>]` with a JSON body of declared length, served
 * straight from Node's request event instead of through Fastify's routing,
 * hooks, body parsing and reply (which cost as much per call as the proxy hop
 * itself; docs/performance.md, "Fastify on the hot path").
 *
 * It answers exactly what routes.ts answers for such a call, with the same
 * code (syncCall, the key check, the reserved-path check, the gateway's error
 * shape `{detail, code}` and access line), and it takes only calls where the
 * two cannot differ. Anything else goes to Fastify untouched, before a byte
 * of the body is read: another method or route, a path with anything but
 * letters, digits, `_`, `-` and single slashes (percent-encoding, dots, a
 * NUL, a query string, a trailing slash), a streaming path (`.../stream`),
 * a body without Content-Length or over the size limit (Fastify answers
 * 413), a content type other than JSON, and every call once the server is
 * closing (Fastify answers 503).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log";
import type { Authenticate } from "../api/auth";
import { gatewayErrorAnswer } from "../api/errorReply";
import { refuseReservedPath } from "./callHeaders";
import { syncCall, type GatewayCall, type GatewayDeps } from "./calls";
import { isStreamPath } from "./stream";
import { CallerGone } from "./callSignals";

/** `/run/<owner>/<alias>[/<segment>...]`, plain characters only; owner and alias within find-my-way's 100-character parameters. */
const FAST_RUN = /^\/run\/([A-Za-z0-9_-]{1,100})\/([A-Za-z0-9_-]{1,100})((?:\/[A-Za-z0-9_-]{1,100})*)$/;
/** What fal's clients send; other content types take the ordinary path. */
const JSON_TYPE = /^application\/json\s*(;\s*charset=utf-8\s*)?$/i;

export interface FastPath {
  /** Serves the request and returns true, or returns false having touched nothing. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** From now on every request takes the ordinary path (Fastify answers 503 while it closes). */
  close(): void;
}

export function gatewayFastPath(deps: GatewayDeps & { authenticate: Authenticate }): FastPath {
  let closing = false;
  const maxBody = deps.limits.maxBodyBytes;
  const log: Logger = deps.log;

  // As Fastify's reply.send: no body, content type or length for 1xx and 204.
  const answer = (res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer | string) => {
    if (res.headersSent || res.destroyed) return;
    if (status < 200 || status === 204) {
      delete headers["content-type"];
      res.writeHead(status, headers);
      res.end();
      return;
    }
    headers["content-length"] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);
  };

  // The server's access line; at debug when the call wrote its own (one info line per call).
  const accessLine = (url: string, started: bigint, status: number, callLogged: boolean) => {
    const fields = { method: "POST", path: url, status, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10 };
    if (callLogged) log.debug(fields, "http request");
    else log.info(fields, "http request");
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, url: string, owner: string, alias: string, subpath: string, body: Buffer, started: bigint) => {
    const gone = new CallerGone(res);
    let logged = false;
    try {
      // As routes.ts's toCall: the reserved paths first, then the key.
      refuseReservedPath(subpath, `${owner}/${alias}`);
      const call: GatewayCall = {
        method: "POST",
        owner,
        alias,
        subpath,
        query: new URLSearchParams(),
        headers: req.headers,
        body,
        // A sync call never names the queue; here for the interface.
        get queueBase() {
          return `${(req.socket as { encrypted?: boolean }).encrypted ? "https" : "http"}://${req.headers.host ?? ""}/queue`;
        },
        key: await deps.authenticate(req),
        clientGone: gone,
      };
      const a = await syncCall(deps, call);
      logged = a.accessLogged === true;
      answer(res, a.status, { ...a.headers }, Buffer.isBuffer(a.body) ? a.body : JSON.stringify(a.body));
      a.after?.();
      accessLine(url, started, res.statusCode, logged);
    } catch (err) {
      const e = gatewayErrorAnswer(err, url, log);
      answer(res, e.status, e.headers, e.body);
      accessLine(url, started, e.status, false);
    }
  };

  return {
    close() {
      closing = true;
    },
    handle(req, res) {
      if (closing || req.method !== "POST") return false;
      const url = req.url;
      if (url === undefined || !url.startsWith("/run/")) return false;
      const m = FAST_RUN.exec(url);
      if (!m) return false;
      const subpath = m[3] === "" ? "/" : m[3];
      if (isStreamPath(subpath)) return false;
      const h = req.headers;
      if (h["transfer-encoding"] !== undefined) return false;
      const declared = h["content-length"];
      if (declared === undefined || !/^\d{1,15}$/.test(declared) || Number(declared) > maxBody) return false;
      const type = h["content-type"];
      if (type === undefined || !JSON_TYPE.test(type)) return false;

      const started = process.hrtime.bigint();
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.once("end", () => {
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        void serve(req, res, url, m[1], m[2], subpath, body, started);
      });
      // A caller that leaves mid-body gets no answer, as with Fastify.
      req.once("error", () => undefined);
      return true;
    },
  };
}
