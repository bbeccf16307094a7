/**
 * An app written for fal (`import fal`, `class TextEcho(fal.App)`, pydantic
 * input and output, settings as class attributes, no falplane imports)
 * deploys unchanged with `pulumi up`: the deploy check shows the class's
 * values and where they came from, the official @fal-ai/client calls it, a bad
 * input gets fal's 422 with a detail list, and a changed class attribute
 * follows fal's inheritance rule (kept without resetScale, applied with it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { createFalClient, ApiError } from "@fal-ai/client";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { createTestProject, type TestProject } from "../helpers/project";
import { PROXY_PATH } from "../../src/platform/gateway/routes";
import { FAL_SDK_VERSION } from "../../src/model/classSettings";

const FAL_APP = resolve(__dirname, "../fixtures/fal-apps/text-echo");
const ENDPOINT = "local/text-echo";
const SPEC = ["environment: main", "apps:", "  - source: app/app.py::TextEcho", ""].join("\n");

/** The deploy check text(s) logged under the FalApp resource. */
function checks(events: EngineEvent[]): string[] {
  return events
    .filter((e) => e.diagnosticEvent?.severity === "info" && /::falplane:index:FalApp::text-echo$/.test(e.diagnosticEvent.urn ?? ""))
    .map((e) => e.diagnosticEvent!.message);
}

/** The row of `setting` in a check's table, its cells trimmed. */
function row(check: string, setting: string): string[] | undefined {
  const line = check.split("\n").find((l) => l.startsWith(`| ${setting} `));
  return line?.split("|").slice(1, -1).map((c) => c.trim());
}

/** 1-based line of `text` in the app file. */
function lineOf(file: string, text: string): number {
  return readFileSync(file, "utf8").split("\n").findIndex((l) => l.includes(text)) + 1;
}

describe("a fal.App class deployed with pulumi up", () => {
  let platform: TestPlatform;
  let project: TestProject;
  let fal: ReturnType<typeof createFalClient>;
  let appFile: string;

  beforeAll(async () => {
    platform = await startTestPlatform();
    project = await createTestProject({ platformUrl: platform.url, apiKey: platform.key, spec: SPEC, appSource: FAL_APP, stackName: "production" });
    appFile = join(project.appDir, "app.py");
    fal = createFalClient({ credentials: platform.key, proxyUrl: { url: `${platform.url}${PROXY_PATH}`, when: "always" } });
  }, 120_000);

  afterAll(async () => {
    await project?.remove();
    await platform?.stop();
  });

  it("the preview shows the class's values, where each came from, and fal's SDK added to the requirements", async () => {
    const events: EngineEvent[] = [];
    await project.stack.preview({ onEvent: (e) => void events.push(e) });
    const [check] = checks(events);
    expect(check).toContain("App class: TextEcho (fal.App)");
    const cls = (text: string) => `from class TextEcho, line ${lineOf(appFile, text)}`;
    expect(row(check, "keep_alive")).toEqual(["keep_alive", "n/a", "300s", cls("keep_alive = 300")]);
    expect(row(check, "max_concurrency")).toEqual(["max_concurrency", "n/a", "3", cls("max_concurrency = 3")]);
    expect(row(check, "machine_types")).toEqual(["machine_types", "n/a", "S", cls('machine_type = "S"')]);
    expect(row(check, "requirements")).toEqual([
      "requirements",
      "n/a",
      `fal==${FAL_SDK_VERSION}, pydantic>=2`,
      `${cls("requirements = ")}; fal==${FAL_SDK_VERSION} added (fal app)`,
    ]);
    // Values nobody set are fal's defaults and say nothing.
    expect(row(check, "min_concurrency")).toEqual(["min_concurrency", "n/a", "0", ""]);
  }, 180_000);

  it("up builds its environment with fal, serves it, and the official JS client calls it", async () => {
    const res = await project.stack.up({ onOutput: () => undefined });
    expect(res.summary.result).toBe("succeeded");
    const app = await platform.client.getApp("text-echo");
    // A first deploy takes the code's values: the class attributes.
    expect(app.scaling).toMatchObject({ keep_alive: 300, max_concurrency: 3 });

    const result = await fal.subscribe(ENDPOINT, { input: { prompt: "hello", repeat: 2 }, pollInterval: 50 });
    expect(result.data).toMatchObject({ text: "hello hello" });
    const sync = await fal.run(ENDPOINT, { input: { prompt: "sync" } });
    expect(sync.data).toMatchObject({ text: "sync" });
  }, 600_000);

  it("a bad input gets fal's 422 with pydantic's detail list, through the queue and the sync path", async () => {
    for (const call of [
      () => fal.subscribe(ENDPOINT, { input: { repeat: 9 }, pollInterval: 50 }),
      () => fal.run(ENDPOINT, { input: { repeat: 9 } }),
    ]) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApiError);
      const api = err as ApiError<{ detail: { loc: string[]; type: string }[] }>;
      expect(api.status).toBe(422);
      expect(api.body.detail.map((d) => d.loc.join("."))).toEqual(["body.prompt", "body.repeat"]);
    }
  }, 120_000);

  it("a changed keep_alive in the class is inherited away without resetScale and applied with it", async () => {
    writeFileSync(appFile, readFileSync(appFile, "utf8").replace("keep_alive = 300", "keep_alive = 600"));
    const line = lineOf(appFile, "keep_alive = 600");

    const events: EngineEvent[] = [];
    await project.stack.preview({ onEvent: (e) => void events.push(e) });
    const [check] = checks(events);
    expect(row(check, "keep_alive")).toEqual([
      "keep_alive",
      "300s",
      "300s",
      `Code value will not apply without resetScale (code: 600s, from class TextEcho, line ${line})`,
    ]);
    await project.stack.up({ onOutput: () => undefined });
    expect((await platform.client.getApp("text-echo")).scaling.keep_alive).toBe(300);

    project.writeSpec(SPEC.replace("::TextEcho\n", "::TextEcho\n    resetScale: true\n"));
    const reset: EngineEvent[] = [];
    await project.stack.preview({ onEvent: (e) => void reset.push(e) });
    expect(row(checks(reset)[0], "keep_alive")).toEqual(["keep_alive", "300s", "600s", `reset by resetScale; from class TextEcho, line ${line}`]);
    await project.stack.up({ onOutput: () => undefined });
    expect((await platform.client.getApp("text-echo")).scaling.keep_alive).toBe(600);
    // The app still answers on the revision of the changed code.
    expect((await fal.run(ENDPOINT, { input: { prompt: "again" } })).data).toMatchObject({ text: "again" });
  }, 600_000);

  it("falctl run serves the same fal app as a temporary public app and removes it on Ctrl-C", async () => {
    const falctl = resolve(__dirname, "../../bin/falctl.cjs");
    const child = spawn(process.execPath, [falctl, "--url", platform.url, "--key", platform.key, "run", join(FAL_APP, "app.py::TextEcho"), "--name", "tmp-echo"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    try {
      await expect.poll(() => out, { timeout: 300_000, interval: 200 }).toContain("ready: local/tmp-echo");
      // Public, as fal run apps are: no key needed. Its class values apply.
      const res = await fetch(`${platform.url}/run/local/tmp-echo`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "eph" }) });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ text: "eph" });
      expect((await platform.client.getApp("tmp-echo")).scaling).toMatchObject({ keep_alive: 300, max_concurrency: 3 });
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect((await platform.client.listApps()).map((a) => a.name)).not.toContain("tmp-echo");
    } finally {
      child.kill("SIGKILL");
    }
  }, 360_000);
});
