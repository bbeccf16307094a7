/**
 * Revisions and switching an app's alias between them: rolling (start, wait
 * for health, then move; a crashing setup leaves traffic where it was),
 * recreate (move at once), deleting revisions, and machine types the backend
 * cannot host. Real Python runners; runs on PGlite and on PostgreSQL.
 */
import { afterAll, describe, expect, it } from "vitest";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { DATABASES, beforeAllOrFailEach, TempDirs, apiError, crashingAppSource, createRevision, deploy, revisionBody, uploadDir } from "../helpers/support";

const ENV = "deploys";

describe.each(DATABASES)("deploying revisions on %s", (database) => {
  let p: TestPlatform;
  const dirs = new TempDirs();

  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database });
    await p.client.createEnvironment(ENV);
  });
  afterAll(async () => {
    await p?.stop();
    dirs.removeAll();
  });

  const call = (name: string, prompt = "HI") => p.client.run(`local/${name}--${ENV}`, { prompt });

  it("a rolling deploy moves the alias to a healthy revision and the endpoint answers", async () => {
    const { revision, app } = await deploy(p.client, "ascii", ENV, dirs.example());
    expect(app.revision).toBe(revision.id);
    expect(app.is_rolling).toBe(false);
    expect(app.endpoint_id).toBe(`local/ascii--${ENV}`);
    expect((await p.client.getRevision(revision.id)).status).toBe("Deployed");
    // Rolling starts the runner before the switch: it is there, on the new revision.
    const runners = await p.client.listRunners("ascii", ENV);
    expect(runners.map((r) => r.revision)).toContain(revision.id);
    const out = await call("ascii");
    expect(out.status).toBe(200);
    expect((out.body as { image: string }).image.split("\n")).toHaveLength(7);
  });

  it("a rolling switch to a revision whose setup crashes fails with 422 deploy_failed and the traceback; the alias stays and traffic keeps flowing", async () => {
    const good = (await p.client.getApp("ascii", ENV)).revision!;
    const brokenDir = dirs.app(crashingAppSource("weights file /models/broken.bin is missing", 1));
    const broken = await createRevision(p.client, "ascii", ENV, brokenDir, { source: "app.py::Broken" });
    expect((await p.client.getApp("ascii", ENV)).revision).toBe(good);

    const switching = p.client.updateApp("ascii", ENV, { revision_id: broken.id, strategy: "rolling" });
    let settled = false;
    const outcome = switching.then(
      () => undefined,
      (e: unknown) => e,
    ).finally(() => (settled = true));

    // While the switch is under way: the alias still serves the good revision.
    const during: number[] = [];
    let sawRolling = false;
    do {
      const app = await p.client.getApp("ascii", ENV);
      if (!settled) sawRolling ||= app.is_rolling;
      expect(app.revision).toBe(good);
      during.push((await call("ascii", "DURING")).status);
    } while (!settled);
    expect(sawRolling).toBe(true);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((s) => s === 200)).toBe(true);

    const err = (await outcome) as import("../../src/client/client").ApiError;
    expect(err?.status).toBe(422);
    expect(err.code).toBe("deploy_failed");
    expect(err.message).toContain(broken.id);
    expect(err.message).toContain(`still points at ${good}`);
    // The runner's own traceback reaches the caller.
    expect(err.message).toContain("Traceback (most recent call last)");
    expect(err.message).toContain("RuntimeError: weights file /models/broken.bin is missing");

    const app = await p.client.getApp("ascii", ENV);
    expect(app.revision).toBe(good);
    expect(app.is_rolling).toBe(false);
    const rev = await p.client.getRevision(broken.id);
    expect(rev.status).toBe("Failed");
    expect(rev.active).toBe(false);
    expect(rev.error).toContain("RuntimeError: weights file /models/broken.bin is missing");

    // After the failure: still served by the good revision.
    for (let i = 0; i < 3; i++) expect((await call("ascii", `AFTER ${i}`)).status).toBe(200);
    expect((await p.client.listRunners("ascii", ENV)).map((r) => r.revision)).not.toContain(broken.id);
  });

  it("refuses to delete the active revision (409) and deletes an inactive one (204)", async () => {
    const active = (await p.client.getApp("ascii", ENV)).revision!;
    const err = await apiError(p.client.deleteRevision(active));
    expect(err.status).toBe(409);
    expect(err.message).toContain("active revision");
    expect((await p.client.getRevision(active)).id).toBe(active);

    const dir = dirs.example();
    appendFileSync(join(dir, "app.py"), "\n# never deployed\n");
    const inactive = await createRevision(p.client, "ascii", ENV, dir, { message: "never deployed" });
    expect(inactive.id).not.toBe(active);
    await p.client.deleteRevision(inactive.id);
    expect((await p.client.listRevisions("ascii", ENV)).map((r) => r.id)).not.toContain(inactive.id);
    expect((await apiError(p.client.getRevision(inactive.id))).status).toBe(404);
    expect((await p.client.getApp("ascii", ENV)).revision).toBe(active);
  });

  it("a recreate switch moves the alias at once without starting a runner first; the next call cold-starts it", async () => {
    const dir = dirs.example();
    const first = await deploy(p.client, "fresh", ENV, dir);
    expect((await call("fresh")).status).toBe(200);

    appendFileSync(join(dir, "app.py"), "\n# second revision\n");
    const second = await createRevision(p.client, "fresh", ENV, dir);
    const app = await p.client.updateApp("fresh", ENV, { revision_id: second.id, strategy: "recreate" });
    expect(app.revision).toBe(second.id);
    expect((await p.client.getRevision(second.id)).status).toBe("Deployed");
    expect((await p.client.getRevision(first.revision.id)).active).toBe(false);
    // Nothing was started ahead of the switch.
    expect((await p.client.listRunners("fresh", ENV)).map((r) => r.revision)).not.toContain(second.id);

    const out = await call("fresh", "COLD");
    expect(out.status).toBe(200);
    expect((await p.client.listRunners("fresh", ENV)).map((r) => r.revision)).toContain(second.id);
  });

  it("a revision is identified by its code: the same code reuses it, changed files or code settings make a new one", async () => {
    const dir = dirs.example();
    const a = await createRevision(p.client, "hashes", ENV, dir);
    expect(a.reused).toBe(false);
    // Same files and settings (a revert, a re-run): the existing revision, nothing new to build.
    const b = await createRevision(p.client, "hashes", ENV, dir, { message: "same code" });
    expect(b).toMatchObject({ id: a.id, code_hash: a.code_hash, reused: true });
    const settings = await createRevision(p.client, "hashes", ENV, dir, { codeSettings: { max_multiplexing: 4 } });
    expect(settings.id).not.toBe(a.id);
    expect(settings.code_hash).not.toBe(a.code_hash);
    writeFileSync(join(dir, "README.md"), "changed\n");
    const c = await createRevision(p.client, "hashes", ENV, dir);
    expect(c.id).not.toBe(a.id);
    expect(c.code_hash).not.toBe(a.code_hash);
    expect(c.files["README.md"].hash).not.toBe(a.files["README.md"].hash);
    expect((await p.client.listRevisions("hashes", ENV)).map((r) => r.id).sort()).toEqual([a.id, settings.id, c.id].sort());
  });

  it("refuses a revision whose files were not uploaded (422 listing them)", async () => {
    const dir = dirs.example();
    const files = await uploadDir(p.client, dir);
    const fake = "f".repeat(64);
    const res = await apiError(p.client.createRevision("ascii", ENV, revisionBody({ ...files, "extra.bin": { hash: fake, mode: 0o644 } })));
    expect(res.status).toBe(422);
    expect(res.message).toContain("have not been uploaded");
    expect(res.details).toEqual({ missing: [fake] });
  });
});

describe.each(DATABASES)("machine types the backend cannot host, on %s", (database) => {
  let p: TestPlatform;
  const dirs = new TempDirs();

  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database, machineTypes: ["S"] });
  });
  afterAll(async () => {
    await p?.stop();
    dirs.removeAll();
  });

  it("refuses a revision that asks only for types it lacks (422 naming both lists) and accepts one that widens to a type it has", async () => {
    const dir = dirs.example();
    const err = await apiError(createRevision(p.client, "big", "main", dir, { machineTypes: ["M"] }));
    expect(err.status).toBe(422);
    expect(err.message).toContain("[M]");
    expect(err.message).toContain("hosts [S]");
    expect(await p.client.findApp("big", "main")).toBeUndefined();

    const { app, revision } = await deploy(p.client, "big", "main", dir, { machineTypes: ["M", "S"] });
    expect(app.revision).toBe(revision.id);
    expect(revision.machine_types).toEqual(["M", "S"]);
    expect((await p.client.run("local/big", { prompt: "OK" })).status).toBe(200);
    expect((await p.client.listRunners("big", "main"))[0].machine_type).toBe("S");
  });
});
