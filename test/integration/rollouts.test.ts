/**
 * Deploy semantics through the real engine: a rolling deploy whose setup
 * crashes fails `pulumi up` with the runner's output and leaves the old
 * revision serving every request sent throughout; rollback as code (pinning a
 * revision, or reverting the code) builds nothing and switches back; a new
 * rolloutTrigger restarts the runners.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { createTestProject, exampleSpec, type TestProject } from "../helpers/project";

let platform: TestPlatform;
let project: TestProject;
let good: string;
let originalApp: string;

beforeAll(async () => {
  platform = await startTestPlatform();
  project = await createTestProject({ platformUrl: platform.url, apiKey: platform.key, spec: exampleSpec() });
  originalApp = readFileSync(join(project.appDir, "app.py"), "utf8");
  const res = await project.stack.up();
  good = res.outputs.revisions.value["text-to-ascii"];
}, 180_000);

afterAll(async () => {
  await project?.remove();
  await platform?.stop();
});

const call = () => platform.client.run("local/text-to-ascii--staging", { prompt: "OK" });
const blobUploads = () => platform.logs.filter((l) => l.msg === "http request" && l.method === "PUT" && String(l.path).startsWith("/v1/blobs/")).length;
const revisionCreates = () => platform.logs.filter((l) => l.msg === "http request" && l.method === "POST" && String(l.path).endsWith("/revisions")).length;

describe("rolling deploys, rollbacks and rollouts", () => {
  it("a setup crash fails up with the runner's error, the alias stays, and traffic never notices", async () => {
    writeFileSync(
      join(project.appDir, "app.py"),
      originalApp.replace(/def setup\(self\)(.*):\n/, 'def setup(self)$1:\n        raise RuntimeError("weights missing: /models/broken.bin")\n'),
    );
    expect(readFileSync(join(project.appDir, "app.py"), "utf8")).toContain("weights missing");

    let sent = 0;
    const failures: string[] = [];
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        const r = await call().catch((e: Error) => ({ status: -1, body: e.message }));
        sent++;
        if (r.status !== 200) failures.push(`${r.status} ${JSON.stringify(r.body)}`);
      }
    })();
    const err = await project.stack.up().then(
      () => undefined,
      (e: Error) => e,
    );
    stop = true;
    await traffic;

    expect(err).toBeInstanceOf(Error);
    expect(String(err?.message)).toContain("weights missing: /models/broken.bin");
    expect(String(err?.message)).toContain("failed to start");
    expect(sent).toBeGreaterThan(5);
    expect(failures).toEqual([]);
    const app = await platform.client.getApp("text-to-ascii", "staging");
    expect(app.revision).toBe(good);
    const revs = await platform.client.listRevisions("text-to-ascii", "staging");
    const failed = revs.find((r) => r.id !== good)!;
    expect(failed.status).toBe("Failed");
    expect(failed.error).toContain("weights missing");
  }, 240_000);

  it("reverting the code reuses the revision that has that content: nothing is uploaded or built", async () => {
    writeFileSync(join(project.appDir, "app.py"), originalApp.replace("import", "# v2\nimport"));
    const v2 = (await project.stack.up()).outputs.revisions.value["text-to-ascii"];
    expect(v2).not.toBe(good);
    const uploadsBefore = blobUploads();
    writeFileSync(join(project.appDir, "app.py"), originalApp);
    const back = (await project.stack.up()).outputs.revisions.value["text-to-ascii"];
    expect(back).toBe(good);
    expect(blobUploads()).toBe(uploadsBefore);
    expect((await platform.client.getApp("text-to-ascii", "staging")).revision).toBe(good);
    expect((await call()).status).toBe(200);
  }, 240_000);

  it("pinning a revision rolls back as code: no revision is created, the alias switches", async () => {
    writeFileSync(join(project.appDir, "app.py"), originalApp.replace("import", "# v3\nimport"));
    const v3 = (await project.stack.up()).outputs.revisions.value["text-to-ascii"];
    expect((await platform.client.getApp("text-to-ascii", "staging")).revision).toBe(v3);
    const creates = revisionCreates();
    const uploads = blobUploads();
    project.writeSpec(exampleSpec({ extra: `pinRevision: ${good}` }));
    const res = await project.stack.up();
    expect(res.outputs.revisions.value["text-to-ascii"]).toBe(good);
    expect((await platform.client.getApp("text-to-ascii", "staging")).revision).toBe(good);
    expect(revisionCreates()).toBe(creates);
    expect(blobUploads()).toBe(uploads);
    // The revision pinned away from stays on the platform for a later roll-forward.
    expect((await platform.client.listRevisions("text-to-ascii", "staging")).map((r) => r.id)).toContain(v3);
  }, 240_000);

  it("a new rolloutTrigger restarts the runners without changing revision", async () => {
    expect((await call()).status).toBe(200);
    const before = (await platform.client.listRunners("text-to-ascii", "staging")).map((r) => r.pid);
    expect(before.length).toBeGreaterThan(0);
    project.writeSpec(exampleSpec({ extra: `pinRevision: ${good}\nrolloutTrigger: "secrets-2026-11-22"\nforceRollout: true` }));
    await project.stack.up();
    expect((await call()).status).toBe(200);
    const after = (await platform.client.listRunners("text-to-ascii", "staging")).map((r) => r.pid);
    expect(after.some((pid) => before.includes(pid))).toBe(false);
    expect((await platform.client.getApp("text-to-ascii", "staging")).revision).toBe(good);
  }, 240_000);
});
