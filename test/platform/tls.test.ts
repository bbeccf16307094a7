/**
 * The platform's own HTTPS listener (--tls-cert/--tls-key), and the queue's
 * URLs behind a proxy: they name the address the caller used, from
 * X-Forwarded-Proto/-Host, but only when the proxy is trusted.
 */
import { execFileSync } from "node:child_process";
import { request } from "node:https";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { TempDirs } from "../helpers/support";

const dirs = new TempDirs();
let certDir: string;

beforeAll(() => {
  certDir = dirs.make("falplane-tls-");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout", join(certDir, "key.pem"), "-out", join(certDir, "cert.pem"),
  ], { stdio: "ignore" });
});

afterAll(() => dirs.removeAll());

/** POSTs over HTTPS trusting only our certificate; answers status and JSON body. */
function httpsPost(url: string, key: string, body: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      ca: readFileSync(join(certDir, "cert.pem")),
      headers: { authorization: `Key ${key}`, "content-type": "application/json" },
    }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("HTTPS listener", () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform({ tlsCert: join(certDir, "cert.pem"), tlsKey: join(certDir, "key.pem") });
  }, 60_000);
  afterAll(async () => platform?.stop());

  it("serves the API and the queue over https, and the queue's URLs say https", async () => {
    expect(platform.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const submitted = await httpsPost(`${platform.url}/queue/local/none`, platform.key, {});
    expect(submitted.status).toBe(404);
    expect(submitted.body.detail).toContain("no deployed app");
  });

  it("refuses to start with only one of the two files, naming what is missing", async () => {
    await expect(startTestPlatform({ tlsCert: join(certDir, "cert.pem") })).rejects.toThrow("HTTPS needs both --tls-cert and --tls-key");
    await expect(startTestPlatform({ tlsCert: join(certDir, "nope.pem"), tlsKey: join(certDir, "key.pem") })).rejects.toThrow(
      `cannot read the TLS certificate ${join(certDir, "nope.pem")}`,
    );
  });
});

describe("behind a proxy", () => {
  let trusted: TestPlatform;
  let untrusted: TestPlatform;
  beforeAll(async () => {
    trusted = await startTestPlatform({ trustProxy: ["127.0.0.1"] });
    untrusted = await startTestPlatform();
    for (const p of [trusted, untrusted]) await deployWorker(p.client, {});
  }, 120_000);
  afterAll(async () => {
    await trusted?.stop();
    await untrusted?.stop();
  });

  const submit = (p: TestPlatform) =>
    fetch(`${p.url}/queue/local/worker`, {
      method: "POST",
      headers: {
        authorization: `Key ${p.key}`,
        "content-type": "application/json",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "api.example.com",
      },
      body: "{}",
    }).then((r) => r.json() as Promise<{ response_url: string; status_url: string }>);

  it("a trusted proxy's X-Forwarded-Proto/-Host make the URLs callers follow", async () => {
    const answer = await submit(trusted);
    expect(answer.status_url).toMatch(/^https:\/\/api\.example\.com\/queue\/local\/worker\/requests\/[0-9a-f-]+\/status$/);
  });

  it("an untrusted caller's X-Forwarded-* headers are ignored", async () => {
    const answer = await submit(untrusted);
    expect(answer.response_url.startsWith(`${untrusted.url}/queue/local/worker/requests/`)).toBe(true);
  });
});
