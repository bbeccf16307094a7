/**
 * Storage as the official client uses it: `fal.storage.upload` (and the
 * client's own upload of Blob inputs) through the proxy convention; the URL
 * it returns serves the bytes, and the app's runner can fetch it. Uploads
 * need a key, an upload URL works once, and files expire with retention.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFalClient } from "@fal-ai/client";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { PROXY_PATH } from "../../src/platform/gateway/routes";
import { openPayloadStore } from "../../src/platform/store/payloadStore";
import { runRetentionOnce } from "../../src/platform/queue/retention";

let platform: TestPlatform;
let fal: ReturnType<typeof createFalClient>;
const bytes = randomBytes(200_000);
const sha = createHash("sha256").update(bytes).digest("hex");

beforeAll(async () => {
  platform = await startTestPlatform({ database: "pglite" });
  await deployWorker(platform.client, { scaling: { keep_alive: 60 } });
  fal = createFalClient({ credentials: platform.key, proxyUrl: { url: `${platform.url}${PROXY_PATH}`, when: "always" } });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe("storage uploads", () => {
  it("fal.storage.upload returns a URL on the platform that serves the bytes", async () => {
    const url = await fal.storage.upload(new Blob([bytes], { type: "image/png" }));
    expect(url.startsWith(`${platform.url}/storage/files/`)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex")).toBe(sha);
  });

  it("a Blob in the input is uploaded by the client and fetched by the app's runner", async () => {
    const res = await fal.run("local/worker/fetch", { input: { url: new Blob([bytes], { type: "application/octet-stream" }) } });
    expect(res.data).toEqual({ size: bytes.length, sha256: sha, content_type: "application/octet-stream" });
  }, 60_000);

  it("needs a key to start an upload, and an upload URL works once", async () => {
    const anonymous = await fetch(`${platform.url}/storage/upload/initiate`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(anonymous.status).toBe(401);
    const started = await fetch(`${platform.url}/storage/upload/initiate`, {
      method: "POST",
      headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" },
      body: JSON.stringify({ content_type: "text/plain", file_name: "../../etc/passwd" }),
    });
    const { upload_url, file_url } = (await started.json()) as { upload_url: string; file_url: string };
    expect(file_url.endsWith("/.._.._etc_passwd")).toBe(true);
    const wrongToken = await fetch(upload_url.replace(/token=\w+/, "token=00"), { method: "PUT", body: "x" });
    expect(wrongToken.status).toBe(403);
    expect((await fetch(file_url)).status).toBe(404);
    expect((await fetch(upload_url, { method: "PUT", headers: { "content-type": "text/plain" }, body: "hello" })).status).toBe(200);
    expect((await fetch(upload_url, { method: "PUT", body: "again" })).status).toBe(403);
    expect(await (await fetch(file_url)).text()).toBe("hello");
  });

  it("files expire with the request retention, bytes and all", async () => {
    const url = await fal.storage.upload(new Blob(["short-lived"], { type: "text/plain" }));
    expect((await fetch(url)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    await runRetentionOnce({ db: platform.db, payloads: openPayloadStore(platform.db, platform.dataDir), retentionMs: 200 });
    expect((await fetch(url)).status).toBe(404);
    const [{ n }] = await platform.db.query<{ n: string }>("SELECT count(*)::text AS n FROM stored_files");
    expect(n).toBe("0");
  });
});
