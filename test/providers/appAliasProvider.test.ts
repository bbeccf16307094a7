/**
 * The AppAlias dynamic provider, called directly against a live platform
 * (no Pulumi engine): create and update move the alias with a real rolling
 * switch; scaling follows fal's inheritance rule (live values survive a
 * deploy unless resetScale); read shows drift; delete removes the app.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { appAliasProvider as provider, type AppAliasOuts, type AppAliasProps } from "../../src/providers/appAliasProvider";
import { revisionProvider } from "../../src/providers/revisionProvider";
import { collectAppFiles } from "../../src/model/files";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS, type RuntimeScaling } from "../../src/model/catalog";
import { TempDirs } from "../helpers/support";

const APP = "ascii";
const ENV = "staging";
const ENDPOINT = `local/${APP}--${ENV}`;
/** The code's runtime-tunable values in these tests. */
const CODE_SCALING: RuntimeScaling = { ...RUNTIME_SCALING_DEFAULTS, keep_alive: 120, max_concurrency: 3 };

let p: TestPlatform;
const dirs = new TempDirs();
let appDir: string;

beforeAll(async () => {
  p = await startTestPlatform();
  await p.client.createEnvironment(ENV);
  appDir = dirs.example();
});
afterAll(async () => {
  await p?.stop();
  dirs.removeAll();
});

/** A new revision of the app's current code, as the Revision resource would create it. */
async function newRevision(): Promise<string> {
  const res = await revisionProvider.create!({
    platformUrl: p.url,
    apiKey: p.key,
    appName: APP,
    environment: ENV,
    sourceObject: "app.py::TextToAscii",
    sourceDir: appDir,
    files: collectAppFiles(appDir),
    codeSettings: { ...CODE_SETTINGS_DEFAULTS, startup_timeout: 60 },
    scaling: CODE_SCALING,
    authMode: "private",
    message: "",
    annotations: {},
  });
  return res.id;
}

function props(revisionId: string, over: Partial<AppAliasProps> = {}): AppAliasProps {
  return {
    platformUrl: p.url,
    apiKey: p.key,
    appName: APP,
    environment: ENV,
    revisionId,
    authMode: "private",
    strategy: "rolling",
    scaling: CODE_SCALING,
    resetScale: false,
    rolloutTrigger: "",
    forceRollout: false,
    revisionHistoryLimit: 0,
    ...over,
  };
}

describe("app alias provider", () => {
  let id: string;
  let outs: AppAliasOuts;
  let rev1: string;
  let rev2: string;

  it("create points the alias at the revision with the code's scaling, and the endpoint answers", async () => {
    rev1 = await newRevision();
    const res = await provider.create!(props(rev1));
    id = res.id;
    outs = res.outs!;
    expect(outs).toMatchObject({ endpointId: ENDPOINT, alias: `${APP}--${ENV}`, revisionId: rev1, liveScaling: CODE_SCALING });

    const app = await p.client.getApp(APP, ENV);
    expect(app.id).toBe(id);
    expect(app.revision).toBe(rev1);
    expect(app.scaling).toEqual(CODE_SCALING);
    const out = await p.client.run(outs.endpointId, { prompt: "HI" });
    expect(out.status).toBe(200);
    expect((out.body as { image: string }).image.split("\n")).toHaveLength(7);
  });

  it("update with a new revision moves the alias to it, and traffic follows", async () => {
    appendFileSync(join(appDir, "app.py"), "\n# second revision\n");
    rev2 = await newRevision();
    expect((await provider.diff!(id, outs, props(rev2))).changes).toBe(true);
    const res = await provider.update!(id, outs, props(rev2));
    outs = res.outs!;
    expect(outs.revisionId).toBe(rev2);
    expect((await p.client.getApp(APP, ENV)).revision).toBe(rev2);
    expect((await p.client.getRevision(rev1)).active).toBe(false);
    expect((await p.client.run(ENDPOINT, { prompt: "TWO" })).status).toBe(200);
    await expect
      .poll(async () => (await p.client.listRunners(APP, ENV)).map((r) => r.revision), { timeout: 15_000 })
      .toEqual([rev2]);
  });

  it("live scaling set outside Pulumi survives an update without resetScale, and is not a diff", async () => {
    await p.client.updateApp(APP, ENV, { scaling: { max_concurrency: 5 } });
    // Read (refresh) shows the live value.
    const read = await provider.read!(id, outs);
    expect(read.props!.liveScaling.max_concurrency).toBe(5);
    outs = read.props as AppAliasOuts;
    // Code says 3, live says 5: without resetScale that is not a change.
    expect(await provider.diff!(id, outs, props(rev2))).toMatchObject({ changes: false, replaces: [] });

    // An update for another reason (auth mode) keeps the live value.
    const res = await provider.update!(id, outs, props(rev2, { authMode: "shared" }));
    outs = res.outs!;
    expect(outs.liveScaling.max_concurrency).toBe(5);
    const app = await p.client.getApp(APP, ENV);
    expect(app.scaling.max_concurrency).toBe(5);
    expect(app.auth_mode).toBe("shared");
  });

  it("with resetScale the code's scaling is a diff, and update applies it", async () => {
    const reset = props(rev2, { authMode: "shared", resetScale: true });
    const diff = await provider.diff!(id, outs, reset);
    expect(diff.changes).toBe(true);
    expect(diff.replaces).toEqual([]);
    const res = await provider.update!(id, outs, reset);
    outs = res.outs!;
    expect(outs.liveScaling).toEqual(CODE_SCALING);
    expect((await p.client.getApp(APP, ENV)).scaling.max_concurrency).toBe(3);
    // Once applied, the same inputs are no longer a diff.
    expect((await provider.diff!(id, outs, reset)).changes).toBe(false);
  });

  it("read reflects drift: a set-rev rollback and a scale change made outside Pulumi", async () => {
    await p.client.updateApp(APP, ENV, { revision_id: rev1, strategy: "recreate" });
    await p.client.updateApp(APP, ENV, { scaling: { keep_alive: 30 } });
    const read = await provider.read!(id, outs);
    expect(read.id).toBe(id);
    expect(read.props!.revisionId).toBe(rev1);
    expect(read.props!.liveScaling.keep_alive).toBe(30);
    // The next up puts the alias back on the code's revision.
    expect((await provider.diff!(id, read.props as AppAliasOuts, props(rev2, { authMode: "shared", resetScale: true }))).changes).toBe(true);
  });

  it("revisionHistoryLimit prunes the oldest inactive revisions and keeps the active one", async () => {
    appendFileSync(join(appDir, "app.py"), "\n# third revision\n");
    const rev3 = await newRevision();
    expect((await p.client.listRevisions(APP, ENV)).length).toBeGreaterThanOrEqual(3);
    const next = props(rev3, { revisionHistoryLimit: 2 });
    expect((await provider.diff!(id, outs, next)).changes).toBe(true);
    outs = (await provider.update!(id, outs, next)).outs!;
    const left = await p.client.listRevisions(APP, ENV);
    expect(left.map((r) => r.id)).toEqual([rev3, rev2]);
    expect(left.find((r) => r.active)?.id).toBe(rev3);
  });

  it("diff replaces the alias when the app or environment is renamed", async () => {
    const diff = await provider.diff!(id, outs, props(rev2, { appName: "renamed" }));
    expect(diff).toMatchObject({ changes: true, replaces: ["appName"], deleteBeforeReplace: true });
  });

  it("delete removes the app; read then reports it gone and the endpoint answers 404", async () => {
    await provider.delete!(id, outs);
    expect(await p.client.findApp(APP, ENV)).toBeUndefined();
    expect((await provider.read!(id, outs)).id).toBe("");
    expect((await p.client.run(ENDPOINT, { prompt: "GONE" })).status).toBe(404);
    await expect.poll(async () => (await p.client.listApps(ENV)).length).toBe(0);
    // Deleting again (already gone) is not an error.
    await provider.delete!(id, outs);
  });
});
