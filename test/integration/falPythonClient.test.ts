/**
 * The official Python client, fal-client from PyPI (the version
 * tools/fal-client.json pins, installed by scripts/setup.cjs into
 * ~/.cache/falplane/fal-client-<version>/), against the platform's own HTTPS
 * listener, unpatched: only its documented environment. The client builds
 * `https://{FAL_RUN_HOST}/<owner>/<alias>[/<path>]` and
 * `https://{FAL_QUEUE_RUN_HOST}/<owner>/<alias>`, so host values with a path,
 * `127.0.0.1:<port>/run` and `127.0.0.1:<port>/queue`, reach the gateway's
 * routes; it then follows the status/response/cancel URLs the queue answers.
 * It trusts our self-signed certificate through SSL_CERT_FILE (httpx reads it).
 * One Python script (test/fixtures/python/fal_client_check.py) runs every
 * check and prints its findings as JSON; each test below asserts one part.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployDir, deployWorker, FIXTURE_APPS } from "../helpers/deploy";
import { TempDirs } from "../helpers/support";
import { PlatformClient } from "../../src/client/client";

const ROOT = resolve(__dirname, "../..");
const VERSION: string = JSON.parse(readFileSync(join(ROOT, "tools", "fal-client.json"), "utf8")).version;
const VENV = join(homedir(), ".cache", "falplane", `fal-client-${VERSION}`);
const PYTHON = join(VENV, "bin", "python");
const SCRIPT = join(ROOT, "test", "fixtures", "python", "fal_client_check.py");

/* eslint-disable @typescript-eslint/no-explicit-any */
type Findings = Record<string, any>;

const dirs = new TempDirs();
let platform: TestPlatform | undefined;
let found: Findings;
let setupError: unknown;
let relay: Server | undefined;

/**
 * A plain-HTTP relay to the TLS platform that trusts our certificate: the
 * deploys go through it, since PlatformClient (global fetch) has no option
 * for a CA of its own and the test does not turn verification off.
 */
async function httpRelay(target: URL, ca: Buffer): Promise<string> {
  relay = createServer((req, res) => {
    const upstream = httpsRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, ca },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", (err) => res.writeHead(502).end(String(err)));
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => relay!.listen(0, "127.0.0.1", ok));
  return `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
}

function runScript(env: NodeJS.ProcessEnv): Promise<string> {
  // Asynchronous: the platform serves the script from this same process.
  return new Promise((res, rej) => {
    execFile(PYTHON, [SCRIPT, "local/worker", "local/streamer"], { env, timeout: 150_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${SCRIPT} failed: ${err.message}\n${stderr}`));
      else res(stdout);
    });
  });
}

beforeAll(async () => {
  try {
    if (!existsSync(PYTHON)) {
      throw new Error(
        `fal-client ${VERSION} is not installed: no ${PYTHON}. Run \`node scripts/setup.cjs\` (its falClientPython step installs fal-client==${VERSION} from PyPI into ${VENV}).`,
      );
    }
    const certDir = dirs.make("falplane-pyclient-tls-");
    const cert = join(certDir, "cert.pem");
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout", join(certDir, "key.pem"), "-out", cert,
    ], { stdio: "ignore" });
    platform = await startTestPlatform({ tlsCert: cert, tlsKey: join(certDir, "key.pem") });
    const deployer = new PlatformClient({ url: await httpRelay(new URL(platform.url), readFileSync(cert)), key: platform.key });
    await deployWorker(deployer, { scaling: { max_concurrency: 2, keep_alive: 120 }, codeSettings: { max_multiplexing: 2 } });
    await deployDir(deployer, {
      dir: join(FIXTURE_APPS, "streamer"),
      sourceObject: "app.py::Streamer",
      name: "streamer",
      scaling: { max_concurrency: 1, keep_alive: 120 },
    });
    const hostPort = new URL(platform.url).host; // 127.0.0.1:<port>
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      FAL_KEY: platform.key,
      FAL_RUN_HOST: `${hostPort}/run`,
      FAL_QUEUE_RUN_HOST: `${hostPort}/queue`,
      SSL_CERT_FILE: cert,
      NO_PROXY: "127.0.0.1,localhost",
      no_proxy: "127.0.0.1,localhost",
    };
    const out = await runScript(env);
    const line = out.trim().split("\n").at(-1) ?? "";
    try {
      found = JSON.parse(line);
    } catch {
      throw new Error(`${SCRIPT} printed no JSON line:\n${out}`);
    }
  } catch (err) {
    setupError = err;
  }
}, 300_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  relay?.closeAllConnections();
  relay?.close();
  await platform?.stop();
  dirs.removeAll();
});

/** One check's findings; a check that raised fails here with the client's exception and traceback. */
function check(name: string, from: Findings = found): Findings {
  const f = from[name];
  if (f && typeof f === "object" && "error" in f && "traceback" in f) throw new Error(`fal_client ${name} raised ${f.error}\n${f.traceback}`);
  return f;
}

const ID = /^[0-9a-f-]{36}$/;

describe(`fal-client (Python, PyPI) over HTTPS`, () => {
  it("is the pinned version", () => {
    expect(found.version).toBe(VERSION);
  });

  it("run: a synchronous call, and one to a sub-path (path=)", () => {
    const f = check("run");
    expect(f.value).toBe("sync");
    expect(f.request_id).toMatch(ID);
    expect(f.env_runner).toMatch(/.+/);
  });

  it("subscribe: on_enqueue gets the id, on_queue_update sees the request through to COMPLETED with its logs", () => {
    const f = check("subscribe");
    expect(f.value).toBe("subscribed");
    expect(f.enqueued).toEqual([f.request_id]);
    const statuses: string[] = f.updates.map((u: { status: string }) => u.status);
    expect(statuses.at(-1)).toBe("Completed");
    expect(statuses).toContain("InProgress");
    // Statuses only move forward.
    const order = ["Queued", "InProgress", "Completed"];
    expect(statuses.map((s) => order.indexOf(s))).toEqual([...statuses.map((s) => order.indexOf(s))].sort());
    expect(f.updates.at(-1).logs).toContain(`worked on ${f.request_id}`);
  });

  it("submit, status(with_logs) and get(); status and result by request id through FAL_QUEUE_RUN_HOST", () => {
    const f = check("submit");
    expect(f.request_id).toMatch(ID);
    expect(f.status_url).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:\\d+/queue/local/worker/requests/${f.request_id}/status$`));
    expect(f.seen.at(-1)).toBe("Completed");
    expect(f.logs).toContain(`worked on ${f.request_id}`);
    expect(typeof f.metrics.inference_time).toBe("number");
    expect(f.value).toBe(42);
    expect(f.result_request_id).toBe(f.request_id);
    expect(f.by_id_status).toBe("Completed");
    expect(f.by_id_logs).toContain(`worked on ${f.request_id}`);
    expect(f.by_id_value).toBe(42);
  });

  it("cancel of a running request: it completes early, get() raises FalClientHTTPError 499, a second cancel 400", () => {
    const f = check("cancel");
    expect(f.was_in_progress).toBe(true);
    expect(f.final_status).toBe("Completed");
    expect(f.error).toBe("cancelled");
    // The app saw the cancel and stopped (it would have slept 30 s).
    expect(f.seconds_to_complete).toBeLessThan(15);
    expect(f.result).toBeUndefined();
    expect(f.result_error).toMatchObject({ type: "FalClientHTTPError", status: 499 });
    // The answer is {"status": "ALREADY_COMPLETED"}, with no detail: the client's message is the body's text.
    expect(f.cancel_again).toMatchObject({ type: "FalClientHTTPError", status: 400, message: '{"status":"ALREADY_COMPLETED"}' });
  });

  it("stream: partial results arrive in order, each as the app yields it", () => {
    const f = check("stream");
    const events: { step: number; final: boolean; at: number; arrived: number }[] = f.events;
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3]);
    expect(events.map((e) => e.final)).toEqual([false, false, false, true]);
    // Unbuffered: the first event reached the client before the app yielded the last (0.9 s later).
    expect(events[0].arrived).toBeLessThan(events.at(-1)!.at);
    for (const e of events) expect(e.arrived - e.at).toBeLessThan(0.5);
  });

  it("errors: the gateway's {detail} becomes FalClientHTTPError's message and status", () => {
    const f = check("error");
    expect(f).toMatchObject({ type: "FalClientHTTPError", status: 404 });
    expect(f.message).toContain("no deployed app 'local/no-such-app'");
  });

  it("async: run_async, subscribe_async, submit_async + iter_events/get, status_async, cancel_async, stream_async", () => {
    const f = check("async");
    expect(f.run).toBe("async-run");
    expect(f.subscribe.value).toBe("async-subscribed");
    expect(f.subscribe.updates.at(-1)).toBe("Completed");
    expect(f.submit.value).toBe("async-submitted");
    expect(f.submit.seen.at(-1)).toBe("Completed");
    expect(f.submit.status_by_id).toBe("Completed");
    expect(f.submit.logs.some((m: string) => m.startsWith("worked on "))).toBe(true);
    expect(f.gather).toEqual(["a", "b"]);
    expect(f.cancel).toMatchObject({ type: "FalClientHTTPError", status: 499 });
    expect(f.stream).toEqual([0, 1, 2]);
  });
});
