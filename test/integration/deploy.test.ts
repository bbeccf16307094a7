/**
 * The vertical slice through the real Pulumi engine (Automation API, temp
 * file backend) against a platform this test starts: up, a code change, a
 * settings-only change, a bad spec, destroy, and secrets in state.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { createTestProject, exampleSpec, type TestProject } from "../helpers/project";

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

/** Resource operations of a preview, by resource type token suffix. */
function stepsOf(events: EngineEvent[]): { op: string; type: string; urn: string }[] {
  return events
    .filter((e) => e.resourcePreEvent)
    .map((e) => ({ op: e.resourcePreEvent!.metadata.op, type: e.resourcePreEvent!.metadata.type, urn: e.resourcePreEvent!.metadata.urn }))
    .filter((s) => s.op !== "same");
}

describe("pulumi up / preview / destroy against the platform", () => {
  let firstRevision: string;

  it("up creates the environment, app, revision and alias, and the endpoint answers", async () => {
    const res = await project.stack.up();
    expect(res.summary.result).toBe("succeeded");
    const endpoint = res.outputs.endpoints.value["text-to-ascii"];
    expect(endpoint).toBe("local/text-to-ascii--staging");
    firstRevision = res.outputs.revisions.value["text-to-ascii"];

    const envs = await platform.client.listEnvironments();
    expect(envs.map((e) => e.name)).toContain("staging");
    const app = await platform.client.getApp("text-to-ascii", "staging");
    expect(app.revision).toBe(firstRevision);
    expect(app.auth_mode).toBe("private");
    expect(app.scaling.keep_alive).toBe(120);
    const revs = await platform.client.listRevisions("text-to-ascii", "staging");
    expect(revs).toHaveLength(1);
    expect(revs[0]).toMatchObject({ status: "Deployed", source_object: "app.py::TextToAscii", machine_types: ["S"] });
    expect(revs[0].code_settings.max_multiplexing).toBe(4);

    const out = await platform.client.run(endpoint, { prompt: "HI" });
    expect(out.status).toBe(200);
    expect((out.body as { image: string }).image.split("\n")).toHaveLength(7);
  }, 180_000);

  it("a code change previews as one new revision and one alias update, and up moves traffic to it", async () => {
    appendFileSync(join(project.appDir, "app.py"), "\n# a code change\n");
    const events: EngineEvent[] = [];
    const preview = await project.stack.preview({ onEvent: (e) => events.push(e) });
    const steps = stepsOf(events);
    const revisionSteps = steps.filter((s) => s.type.endsWith(":Revision"));
    const aliasSteps = steps.filter((s) => s.type.endsWith(":App"));
    // A revision is immutable: its change is one replacement of one resource, which the
    // engine reports as create-replacement, replace and delete-replaced (the platform keeps the old one).
    expect(new Set(revisionSteps.map((s) => s.urn)).size).toBe(1);
    expect(revisionSteps.map((s) => s.op).sort()).toEqual(["create-replacement", "delete-replaced", "replace"]);
    expect(aliasSteps.map((s) => s.op)).toEqual(["update"]);
    expect(steps.filter((s) => !s.type.endsWith(":Revision") && !s.type.endsWith(":App"))).toEqual([]);
    expect(preview.changeSummary).toMatchObject({ replace: 1, update: 1 });

    const res = await project.stack.up();
    const second = res.outputs.revisions.value["text-to-ascii"];
    expect(second).not.toBe(firstRevision);
    const app = await platform.client.getApp("text-to-ascii", "staging");
    expect(app.revision).toBe(second);
    // The old revision stays on the platform for rollback.
    const revs = await platform.client.listRevisions("text-to-ascii", "staging");
    expect(revs.map((r) => r.id).sort()).toEqual([firstRevision, second].sort());
    const out = await platform.client.run("local/text-to-ascii--staging", { prompt: "OK" });
    expect(out.status).toBe(200);
    // Traffic is on the new revision only: the old revision's runners were drained.
    await expect.poll(async () => (await platform.client.listRunners("text-to-ascii", "staging")).map((r) => r.revision), { timeout: 15_000 })
      .toEqual([second]);
    firstRevision = second;
  }, 180_000);

  it("a settings-only change (auth mode) updates in place without a new revision", async () => {
    project.writeSpec(exampleSpec({ extra: "authMode: public" }));
    const events: EngineEvent[] = [];
    await project.stack.preview({ onEvent: (e) => events.push(e) });
    expect(stepsOf(events).map(({ op, type }) => ({ op, type }))).toEqual([{ op: "update", type: "pulumi-nodejs:dynamic/falplane:App" }]);

    await project.stack.up();
    const app = await platform.client.getApp("text-to-ascii", "staging");
    expect(app.auth_mode).toBe("public");
    expect(app.revision).toBe(firstRevision);
    expect(await platform.client.listRevisions("text-to-ascii", "staging")).toHaveLength(2);
    // Public: no key needed now.
    const res = await fetch(`${platform.url}/run/local/text-to-ascii--staging`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "PUB" }),
    });
    expect(res.status).toBe(200);
  }, 180_000);

  it("the state file holds neither the API key nor its secret in plaintext", () => {
    const state = project.stateText();
    expect(state.length).toBeGreaterThan(1000);
    const [keyId, secret] = platform.key.split(":");
    expect(state).not.toContain(secret);
    expect(state).not.toContain(platform.key);
    expect(state).toContain("ciphertext");
    // The key id alone is not secret, but it is not there either: the whole key is encrypted.
    expect(state).not.toContain(keyId + ":");
  });

  it("destroy removes what up made", async () => {
    const res = await project.stack.destroy();
    expect(res.summary.result).toBe("succeeded");
    expect(await platform.client.listApps()).toEqual([]);
    expect((await platform.client.listEnvironments()).map((e) => e.name)).toEqual(["main"]);
  }, 180_000);
});

describe("a bad spec", () => {
  it("with an unknown machine type fails in preview, naming it, and nothing reaches the platform", async () => {
    const p = await startTestPlatform();
    const proj = await createTestProject({ platformUrl: p.url, apiKey: p.key, spec: exampleSpec({ machineType: "GPU-Z9" }) });
    try {
      const err = await proj.stack.preview().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      // Nothing reached the platform's API during the failed preview.
      expect(p.logs.filter((l) => l.msg === "http request")).toEqual([]);
      expect(err).toBeInstanceOf(Error);
      const text = String(err?.message ?? err);
      expect(text).toContain("apps.staging.yaml");
      expect(text).toContain("apps[0].machineType");
      expect(text).toContain('unknown machine type "GPU-Z9"');
      expect(text).toContain("allowed: XS, S, M, L");
      // And nothing changed on it: no app, no environment, no uploaded file.
      expect(await p.client.listApps()).toEqual([]);
      expect((await p.client.listEnvironments()).map((e) => e.name)).toEqual(["main"]);
      const blobs = await p.db.query<{ n: string }>("SELECT count(*)::text AS n FROM blobs");
      expect(blobs[0].n).toBe("0");
    } finally {
      await proj.remove();
      await p.stop();
    }
  }, 120_000);
});
