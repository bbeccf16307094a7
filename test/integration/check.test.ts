/**
 * The deploy check through the real engine (Automation API): what `pulumi
 * preview` prints under the FalApp resource on a first deployment, after an
 * operator scaled the app (the code value does not apply without
 * resetScale), and with resetScale; and that an unreachable platform only
 * gives a warning.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { createTestProject, exampleSpec, type TestProject } from "../helpers/project";
import { filesFingerprint } from "../../src/check";
import { collectAppFiles } from "../../src/model/files";

const FALAPP_URN = /::falplane:index:FalApp::text-to-ascii$/;

/** Engine events and CLI text of one operation; pass `opts` to preview/up. */
function capture() {
  const c = {
    events: [] as EngineEvent[],
    output: "",
    opts: { onEvent: (e: EngineEvent) => void c.events.push(e), onOutput: (s: string) => void (c.output += s) },
  };
  return c;
}

/** Diagnostics of the FalApp resource with the given severity, each without the engine's trailing newline. */
function diagnostics(events: EngineEvent[], severity: string): string[] {
  return events
    .filter((e) => e.diagnosticEvent && e.diagnosticEvent.severity === severity && FALAPP_URN.test(e.diagnosticEvent.urn ?? ""))
    .map((e) => e.diagnosticEvent!.message.replace(/\n$/, ""));
}

const text = (...lines: string[]) => lines.join("\n");

describe("the deploy check in pulumi preview and up", () => {
  let platform: TestPlatform;
  let project: TestProject;

  beforeAll(async () => {
    platform = await startTestPlatform();
    project = await createTestProject({ platformUrl: platform.url, apiKey: platform.key, spec: exampleSpec() });
  }, 120_000);

  afterAll(async () => {
    await project?.remove();
    await platform?.stop();
  });

  it("a first preview prints the first-deployment summary under the FalApp, once", async () => {
    const c = capture();
    await project.stack.preview(c.opts);
    const fp = filesFingerprint(collectAppFiles(project.appDir));
    const checks = diagnostics(c.events, "info");
    expect(checks).toEqual([
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: staging)",
        "Current revision: none (first deployment)",
        "Source object: app.py::TextToAscii",
        "App class: TextToAscii (falplane.App)",
        "Auth: n/a -> private",
        "Deployment strategy: rolling",
        // A new platform has no environment yet: the first deploy builds one.
        "Environment build cache: miss (will build)",
        "",
        "Effective Deployment Values",
        "+-------------------------+------------+---------------------+---------------+",
        "| Setting                 | Production | After Deploy        | Note          |",
        "+-------------------------+------------+---------------------+---------------+",
        `| Source files            | n/a        | 2 files (${fp})  |               |`,
        "| Source object           | n/a        | app.py::TextToAscii |               |",
        "| Auth mode               | n/a        | private             |               |",
        "| machine_types           | n/a        | S                   | from app spec |",
        "| num_gpus                | n/a        | 0                   |               |",
        "| max_multiplexing        | n/a        | 4                   | from app spec |",
        "| startup_timeout         | n/a        | 60s                 | from app spec |",
        "| keep_alive              | n/a        | 120s                | from app spec |",
        "| min_concurrency         | n/a        | 0                   |               |",
        "| max_concurrency         | n/a        | 2                   |               |",
        "| concurrency_buffer      | n/a        | 0                   |               |",
        "| concurrency_buffer_perc | n/a        | 0%                  |               |",
        "| scaling_delay           | n/a        | 0s                  |               |",
        "| request_timeout         | n/a        | 3600s               |               |",
        "| regions                 | n/a        | any                 |               |",
        "+-------------------------+------------+---------------------+---------------+",
      ),
    ]);
    expect(diagnostics(c.events, "warning")).toEqual([]);
    // The CLI output shows it in the Diagnostics section under the resource, and never the key.
    expect(c.output).toContain("falplane:index:FalApp (text-to-ascii):");
    expect(c.output).toContain("    Deployment Check: text-to-ascii");
    expect(c.output).not.toContain(platform.key.split(":")[1]);
    // The preview only read: nothing was created on the platform.
    expect(await platform.client.listApps()).toEqual([]);
  }, 180_000);

  it("up prints the check too and stores it as the FalApp output deployCheck", async () => {
    const c = capture();
    const res = await project.stack.up(c.opts);
    expect(res.summary.result).toBe("succeeded");
    const checks = diagnostics(c.events, "info");
    expect(checks).toHaveLength(1);
    expect(checks[0]).toContain("Current revision: none (first deployment)");
    const state = await project.stack.exportStack();
    const falApp = (state.deployment.resources as { type: string; outputs?: Record<string, unknown> }[]).find((r) => r.type === "falplane:index:FalApp");
    expect(falApp?.outputs?.deployCheck).toBe(checks[0]);
  }, 180_000);

  it("after an operator scales max_concurrency to 5, the preview keeps 5 and says the code value needs resetScale", async () => {
    const app = await platform.client.getApp("text-to-ascii", "staging");
    await platform.client.updateApp("text-to-ascii", "staging", { scaling: { max_concurrency: 5 } });
    // The environment the first up built is there: a hit, named by its key.
    const { key } = await platform.client.planBuild([], null);
    const c = capture();
    await project.stack.preview(c.opts);
    expect(diagnostics(c.events, "info")).toEqual([
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: staging)",
        `Current revision: ${app.revision}`,
        "Source object: app.py::TextToAscii",
        "App class: TextToAscii (falplane.App)",
        "Auth: private -> private",
        "Deployment strategy: rolling",
        `Environment build cache: hit (key ${key.slice(0, 12)})`,
        "",
        "Effective Production Diff",
        "+-----------------+------------+--------------+--------------------------------------------------------+",
        "| Setting         | Production | After Deploy | Note                                                   |",
        "+-----------------+------------+--------------+--------------------------------------------------------+",
        "| max_concurrency | 5          | 5            | Code value will not apply without resetScale (code: 2) |",
        "+-----------------+------------+--------------+--------------------------------------------------------+",
      ),
    ]);
  }, 180_000);

  it("with resetScale the preview shows the code value applied, and up applies it", async () => {
    project.writeSpec(exampleSpec({ extra: "resetScale: true" }));
    const c = capture();
    await project.stack.preview(c.opts);
    const [check] = diagnostics(c.events, "info");
    expect(check).toContain("| max_concurrency | 5          | 2            | reset by resetScale |");
    expect(check).not.toContain("Code value will not apply");

    await project.stack.up();
    expect((await platform.client.getApp("text-to-ascii", "staging")).scaling.max_concurrency).toBe(2);

    const after = capture();
    await project.stack.preview(after.opts);
    expect(diagnostics(after.events, "info")[0]).toMatch(/\n\nNo production-facing config changes detected\.$/);
  }, 180_000);
});

describe("the deploy check against a platform it cannot reach", () => {
  it("warns that it could not read the live state, and the preview still succeeds", async () => {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const key = "k1:unreachable-secret-0123456789";
    const proj = await createTestProject({ platformUrl: "http://127.0.0.1:1", apiKey: key, spec: exampleSpec() });
    try {
      const c = capture();
      const res = await proj.stack.preview(c.opts);
      expect(res.changeSummary).toMatchObject({ create: 5 });
      expect(diagnostics(c.events, "info")).toEqual([]);
      const warnings = diagnostics(c.events, "warning");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /^Deployment check: could not read the live state of text-to-ascii \(env: staging\) from the platform: cannot reach the platform at http:\/\/127\.0\.0\.1:1 /,
      );
      expect(c.output).not.toContain("unreachable-secret");
      expect(JSON.stringify(c.events)).not.toContain("unreachable-secret");
    } finally {
      await proj.remove();
    }
  }, 120_000);
});
