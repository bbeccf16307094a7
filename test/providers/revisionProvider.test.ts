/**
 * The Revision dynamic provider, called directly against a live platform (no
 * Pulumi engine): uploads only the files the platform lacks, refuses files
 * that changed after they were hashed, and replaces only on a code change.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { revisionProvider as provider, type RevisionOuts, type RevisionProps } from "../../src/providers/revisionProvider";
import { collectAppFiles } from "../../src/model/files";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS } from "../../src/model/catalog";
import { TempDirs } from "../helpers/support";

let p: TestPlatform;
const dirs = new TempDirs();

beforeAll(async () => {
  p = await startTestPlatform();
  await p.client.createEnvironment("staging");
});
afterAll(async () => {
  await p?.stop();
  dirs.removeAll();
});

/** What FalApp passes for the app in `dir`. */
function props(dir: string, over: Partial<RevisionProps> = {}): RevisionProps {
  return {
    platformUrl: p.url,
    apiKey: p.key,
    appName: "ascii",
    environment: "staging",
    sourceObject: "app.py::TextToAscii",
    sourceDir: dir,
    files: collectAppFiles(dir),
    codeSettings: { ...CODE_SETTINGS_DEFAULTS, startup_timeout: 60 },
    scaling: { ...RUNTIME_SCALING_DEFAULTS },
    authMode: "private",
    message: "",
    annotations: {},
    ...over,
  };
}

/** Uploads the platform received: `PUT /v1/blobs/<hash>` calls logged since `from`. */
const uploadsSince = (from: number) =>
  p.logs.slice(from).filter((l) => l.msg === "http request" && l.method === "PUT" && String(l.path).startsWith("/v1/blobs/"));

describe("revision provider", () => {
  let first: RevisionOuts;

  it("create uploads the app's files and creates a revision with them", async () => {
    const dir = dirs.example();
    const mark = p.logs.length;
    const res = await provider.create!(props(dir));
    first = res.outs!;
    expect(res.id).toBe(first.revisionId);
    const uploaded = uploadsSince(mark).map((l) => String(l.path).split("/").pop());
    expect(uploaded.sort()).toEqual(Object.values(collectAppFiles(dir)).map((f) => f.hash).sort());
    expect(uploaded).toHaveLength(2); // app.py and README.md

    const rev = await p.client.getRevision(res.id);
    expect(rev).toMatchObject({ app: "ascii", environment: "staging", source_object: "app.py::TextToAscii", status: "Deploying" });
    expect(rev.files).toEqual(collectAppFiles(dir));
    expect(first.createdAt).toBe(rev.created_at);
  });

  it("a second create with the same files uploads nothing: the same code reuses the revision, new code settings make a new one", async () => {
    const dir = dirs.example();
    let mark = p.logs.length;
    const same = await provider.create!(props(dir, { message: "again" }));
    expect(uploadsSince(mark)).toHaveLength(0);
    // It did ask which files were missing.
    expect(p.logs.slice(mark).some((l) => l.msg === "http request" && l.path === "/v1/blobs/missing")).toBe(true);
    expect(same.id).toBe(first.revisionId);

    mark = p.logs.length;
    const wider = await provider.create!(props(dir, { codeSettings: { ...CODE_SETTINGS_DEFAULTS, startup_timeout: 60, max_multiplexing: 2 } }));
    expect(uploadsSince(mark)).toHaveLength(0);
    expect(wider.id).not.toBe(first.revisionId);
    expect((await p.client.getRevision(wider.id)).code_settings.max_multiplexing).toBe(2);
    expect((await p.client.getRevision(wider.id)).files).toEqual(first.files);
  });

  it("only the changed file is uploaded after a code change", async () => {
    const dir = dirs.example();
    appendFileSync(join(dir, "app.py"), "\n# tweak\n");
    const mark = p.logs.length;
    const res = await provider.create!(props(dir));
    const uploaded = uploadsSince(mark).map((l) => String(l.path).split("/").pop());
    expect(uploaded).toEqual([collectAppFiles(dir)["app.py"].hash]);
    expect((await p.client.getRevision(res.id)).code_hash).not.toBe((await p.client.getRevision(first.revisionId)).code_hash);
  });

  it("create fails, naming the file, when a file it must upload changed on disk after it was hashed", async () => {
    const dir = dirs.example();
    // Content the platform has not seen, so create must read and upload it.
    appendFileSync(join(dir, "app.py"), `\n# unique ${Date.now()}\n`);
    const hashed = props(dir);
    writeFileSync(join(dir, "app.py"), "# edited between preview and up\n");
    const before = (await p.client.listRevisions("ascii", "staging")).length;
    const mark = p.logs.length;
    await expect(provider.create!(hashed)).rejects.toThrow(`${join(dir, "app.py")} changed after the program read it`);
    // Neither the previewed nor the edited content of app.py was uploaded.
    const uploaded = uploadsSince(mark).map((l) => String(l.path).split("/").pop());
    expect(uploaded).not.toContain(hashed.files["app.py"].hash);
    expect(uploaded).not.toContain(collectAppFiles(dir)["app.py"].hash);
    expect(p.logs.slice(mark).some((l) => l.msg === "http request" && String(l.path).includes("/revisions"))).toBe(false);
    expect(await p.client.listRevisions("ascii", "staging")).toHaveLength(before);
  });

  describe("diff", () => {
    it("replaces on a code change: files, entrypoint or code settings", async () => {
      const dir = dirs.example();
      appendFileSync(join(dir, "app.py"), "\n# changed\n");
      const filesChanged = await provider.diff!(first.revisionId, first, props(dir));
      expect(filesChanged).toMatchObject({ changes: true, replaces: ["files"] });

      const same = props(first.sourceDir);
      const settings = await provider.diff!(first.revisionId, first, { ...same, codeSettings: { ...same.codeSettings, machine_types: ["M"] } });
      expect(settings).toMatchObject({ changes: true, replaces: ["codeSettings"] });
      const entry = await provider.diff!(first.revisionId, first, { ...same, sourceObject: "app.py::Other" });
      expect(entry.replaces).toEqual(["sourceObject"]);
    });

    it("does not replace on a message, connection or sourceDir change, nor on key order", async () => {
      const same = props(first.sourceDir);
      expect(await provider.diff!(first.revisionId, first, same)).toMatchObject({ changes: false, replaces: [] });
      const cosmetic: RevisionProps = {
        ...same,
        message: "a new note",
        annotations: { git_commit: "abc" },
        platformUrl: "http://127.0.0.1:9",
        apiKey: "rotated:key",
        sourceDir: dirs.example(),
      };
      expect(await provider.diff!(first.revisionId, first, cosmetic)).toMatchObject({ changes: false, replaces: [] });
      // The engine hands back outputs with sorted keys.
      const reordered = { ...same, codeSettings: Object.fromEntries(Object.entries(same.codeSettings).reverse()) as typeof same.codeSettings };
      expect((await provider.diff!(first.revisionId, first, reordered)).replaces).toEqual([]);
    });
  });

  it("update keeps the revision: same id and creation time", async () => {
    const res = await provider.update!(first.revisionId, first, props(first.sourceDir, { message: "edited" }));
    expect(res.outs).toMatchObject({ revisionId: first.revisionId, createdAt: first.createdAt, message: "edited" });
  });

  it("read keeps an existing revision and reports a deleted one as gone", async () => {
    expect((await provider.read!(first.revisionId, first)).id).toBe(first.revisionId);
    await p.client.deleteRevision(first.revisionId);
    expect((await provider.read!(first.revisionId, first)).id).toBe("");
  });

  it("delete keeps the revision on the platform for rollback", async () => {
    const res = await provider.create!(props(dirs.example()));
    await provider.delete!(res.id, res.outs!);
    expect((await p.client.getRevision(res.id)).id).toBe(res.id);
  });
});
