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
 *
 * Within it, a call with everything at hand (a key this process verified
 * before, the app and its revision cached, a runner slot free) runs without
 * a promise from the request's body to its answer, which is written from the
 * runner's response callback, as a bare proxy would (calls.ts, openCallNow
 * and callRunner); any other call goes through syncCall.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log";
import type { KeyAuthenticator } from "../api/auth";
import { gatewayErrorAnswer } from "../api/errorReply";
import { refuseReservedPath } from "./callHeaders";
import { callRunner, openCallNow, syncCall, type GatewayAnswer, type GatewayCall, type GatewayDeps } from "./calls";
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

function ignore(): void {}

export function gatewayFastPath(deps: GatewayDeps & { authenticate: KeyAuthenticator }): FastPath {
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

  // The call's answer, or its error in the gateway's shape, then its bookkeeping.
  const respond = (res: ServerResponse, url: string, started: bigint, err: unknown, a?: GatewayAnswer) => {
    try {
      if (a) {
        answer(res, a.status, { ...a.headers }, Buffer.isBuffer(a.body) ? a.body : JSON.stringify(a.body));
        a.after?.();
        accessLine(url, started, res.statusCode, a.accessLogged === true);
        return;
      }
    } catch (e) {
      err = e;
    }
    const e = gatewayErrorAnswer(err, url, log);
    answer(res, e.status, e.headers, e.body);
    accessLine(url, started, e.status, false);
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, url: string, owner: string, alias: string, subpath: string, body: Buffer, started: bigint) => {
    try {
      // As routes.ts's toCall: the reserved paths first, then the key.
      refuseReservedPath(subpath, `${owner}/${alias}`);
      // A key this process verified before is known at once; otherwise the check (hash, lookup) runs.
      const known = deps.authenticate.known(req.headers);
      const call: GatewayCall = {
        method: "POST",
        owner,
        alias,
        subpath,
        // The fast path takes no query string; made only if something asks.
        get query() {
          return new URLSearchParams();
        },
        headers: req.headers,
        body,
        // A sync call never names the queue; here for the interface.
        get queueBase() {
          return `${(req.socket as { encrypted?: boolean }).encrypted ? "https" : "http"}://${req.headers.host ?? ""}/queue`;
        },
        key: known !== null ? known : await deps.authenticate(req),
        clientGone: new CallerGone(res),
      };
      // Everything at hand (cached app and revision, a free runner slot): no promise from here to
      // the answer, which is written from the runner's response callback. Else the ordinary call.
      const opened = openCallNow(deps, call);
      if (opened) callRunner(deps, call, opened, (err, a) => respond(res, url, started, err, a));
      else respond(res, url, started, undefined, await syncCall(deps, call));
    } catch (err) {
      respond(res, url, started, err);
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
      // `on`, not `once` (a wrapper per call): each fires at most once.
      req.on("end", () => {
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        void serve(req, res, url, m[1], m[2], subpath, body, started);
      });
      // A caller that leaves mid-body gets no answer, as with Fastify.
      req.on("error", ignore);
      return true;
    },
  };
}
