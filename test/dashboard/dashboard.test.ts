/**
 * The dashboard in a real browser: headless Chromium (Debian's package,
 * installed by scripts/setup.cjs) driven by playwright-core. Signs in with
 * the admin key, sees the app, rolls back through the button (the alias moves
 * and the Current badge with it), watches a runner appear after a call
 * without a reload (with its GPU column), sees a burst of queued requests in
 * the platform's own history and in both charts (queue depth, latency), opens
 * a queued request's logs, and checks that an API key
 * is told what it may do and that the key never leaves sessionStorage.
 * Screenshots of the main pages go to .falplane/screenshots/ (docs/dashboard.md).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFileSync, cpSync, existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker, FIXTURE_APPS } from "../helpers/deploy";
import { TempDirs } from "../helpers/support";
import type { Revision } from "../../src/client/types";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = resolve(__dirname, "../../.falplane/screenshots");
const dirs = new TempDirs();
let platform: TestPlatform;
let browser: Browser;
let page: Page;
let rev1: Revision;
let rev2: Revision;
const consoleLines: string[] = [];

/** A copy of the worker that differs by a comment: a new revision. */
function variant(n: number): string {
  const d = dirs.make("dash-worker-");
  cpSync(join(FIXTURE_APPS, "worker"), d, { recursive: true });
  appendFileSync(join(d, "app.py"), `\n# variant ${n}\n`);
  return d;
}

const short = (id: string) => id.slice(0, 8);
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`npm run setup\` as root (installs Debian's chromium) or \`apt-get install -y chromium\``);
  mkdirSync(SHOTS, { recursive: true });
  platform = await startTestPlatform({ database: "pglite" });
  rev1 = (await deployWorker(platform.client, { dir: variant(1), message: "first version" })).revision;
  rev2 = (await deployWorker(platform.client, { dir: variant(2), message: "second version" })).revision;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
  dirs.removeAll();
});

describe("dashboard", () => {
  it("is served with a strict CSP and no inline script", async () => {
    const res = await fetch(`${platform.url}/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/);
    for (const path of ["/dashboard/app.js", "/dashboard/style.css"]) expect((await fetch(`${platform.url}${path}`)).status).toBe(200);
    // The dashboard's read-only calls need a key like the rest of /v1.
    expect((await fetch(`${platform.url}/v1/dashboard/apps/worker/requests`)).status).toBe(401);
  });

  it("signs in, rolls back through the button, shows a runner after a call and a request's logs", async () => {
    await page.goto(`${platform.url}/dashboard`);
    await expect.poll(() => page.getByRole("heading", { name: "Sign in" }).isVisible()).toBe(true);
    await shot("sign-in");

    await page.getByLabel("API key").fill(platform.key);
    await page.getByRole("button", { name: "Sign in" }).click();

    // The app, in its environment, with its revisions: the newer one is Current.
    const appRow = page.locator('tr[data-app="worker"][data-env="main"]');
    await appRow.waitFor({ timeout: 30_000 });
    expect(await appRow.textContent()).toContain("local/worker");
    const row = (rev: Revision) => page.locator(`#revisions tr[data-revision="${rev.id}"]`);
    await row(rev2).locator(".badge-current").waitFor({ timeout: 30_000 });
    expect(await row(rev1).locator(".badge-current").count()).toBe(0);
    expect(await row(rev2).textContent()).toContain("second version");
    expect(await page.locator("#runners tbody").textContent()).toContain("No runners");
    await shot("app");

    // Keyboard: the rollout dialog opens with Enter and closes with Escape, changing nothing.
    await page.getByRole("button", { name: "Rollout…" }).focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#confirm").isVisible()).toBe(true);
    await page.keyboard.press("Escape");
    await expect.poll(() => page.locator("#confirm").isVisible()).toBe(false);
    await expect.poll(() => page.locator("#status").textContent()).toBe("Cancelled.");

    // Roll back through the button, choosing the recreate strategy in the confirmation.
    await page.evaluate("window.dashboardMarker = 42");
    await page.getByRole("button", { name: `Roll back to revision ${short(rev1.id)}` }).click();
    await expect.poll(() => page.locator("#confirm").isVisible()).toBe(true);
    await page.getByLabel("Recreate").check();
    await page.screenshot({ path: join(SHOTS, "rollback-confirm.png") });
    await page.getByRole("button", { name: "Confirm" }).click();
    await row(rev1).locator(".badge-current").waitFor({ timeout: 30_000 });
    expect(await row(rev2).locator(".badge-current").count()).toBe(0);
    expect((await platform.client.getApp("worker")).revision).toBe(rev1.id);
    expect(await page.locator("[data-current-revision]").getAttribute("data-current-revision")).toBe(rev1.id);

    // A call starts a runner; the page shows it without a reload.
    const res = await fetch(`${platform.url}/run/local/worker`, {
      method: "POST",
      headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "sync" }),
    });
    expect(res.status).toBe(200);
    const runnerRow = page.locator("#runners tbody tr[data-runner]");
    await runnerRow.first().waitFor({ timeout: 30_000 });
    // It may first show as SETUP (a poll during the call); it settles on IDLE.
    await expect.poll(() => runnerRow.first().getAttribute("data-state"), { timeout: 30_000 }).toBe("IDLE");
    expect(await runnerRow.first().textContent()).toContain(short(rev1.id));
    expect(await page.evaluate("window.dashboardMarker")).toBe(42);
    // GPU column: the worker runs on a CPU machine type (S), so it holds none.
    const headers = (await page.locator("#runners thead th").allTextContents()).map((t) => t.trim());
    expect(headers).toContain("GPUs");
    const gpuColumn = headers.indexOf("GPUs");
    expect((await runnerRow.first().locator("th, td").nth(gpuColumn).textContent())?.trim()).toBe("—");

    // A burst of slow queued requests (6 × 2.5 s on at most 2 runners: some wait for about 6 s, longer
    // than the platform's 5 s sampling interval): the queue depth chart sees it.
    const submit = async (input: unknown) =>
      (await (
        await fetch(`${platform.url}/queue/local/worker`, {
          method: "POST",
          headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" },
          body: JSON.stringify(input),
        })
      ).json()) as { request_id: string };
    const burst = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => submit({ value: `burst ${n}`, sleep: 2.5 })));
    await expect.poll(() => page.locator("#queue-caption").textContent(), { timeout: 30_000 }).toMatch(/peak [1-9]/);
    // Lines are attributed to a request when its runner holds only that one: let the burst finish first.
    const status = async (rid: string) =>
      ((await (await fetch(`${platform.url}/queue/local/worker/requests/${rid}/status`, { headers: { authorization: `Key ${platform.key}` } })).json()) as { status: string }).status;
    await expect.poll(async () => (await Promise.all(burst.map((b) => status(b.request_id)))).every((st) => st === "COMPLETED"), { timeout: 20_000 }).toBe(true);

    // The platform's own history (sampled every 5 s, whether or not a page is open) saw requests
    // waiting, and the latency of the completed ones.
    type Sample = { at: string; in_queue: number; in_progress: number; completed: number; latency_p50_ms: number | null; latency_p95_ms: number | null };
    const history = async () =>
      (await (await fetch(`${platform.url}/v1/dashboard/apps/worker/history?env=main`, { headers: { authorization: `Key ${platform.key}` } })).json()) as {
        interval_s: number;
        window_s: number;
        samples: Sample[];
      };
    expect((await fetch(`${platform.url}/v1/dashboard/apps/worker/history`)).status).toBe(401);
    await expect.poll(async () => (await history()).samples.some((x) => x.in_queue > 0), { timeout: 30_000 }).toBe(true);
    await expect.poll(async () => (await history()).samples.reduce((n, x) => n + x.completed, 0), { timeout: 30_000 }).toBeGreaterThanOrEqual(burst.length);
    const h = await history();
    expect(h).toMatchObject({ interval_s: 5, window_s: 3600 });
    const times = h.samples.map((x) => Date.parse(x.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const slow = h.samples.filter((x) => x.completed > 0);
    for (const x of slow) expect(x.latency_p95_ms!).toBeGreaterThanOrEqual(x.latency_p50_ms!);
    // Each burst request ran 2.5 s, so its submit-to-completion time is at least that.
    expect(Math.max(...slow.map((x) => x.latency_p95_ms!))).toBeGreaterThanOrEqual(2500);

    // Both charts are drawn, each with a caption that says its latest values in words.
    for (const id of ["queue-chart", "latency-chart"]) {
      expect(await page.locator(`#${id}`).isVisible()).toBe(true);
      expect(await page.locator(`#${id}`).getAttribute("role")).toBe("img");
    }
    await expect.poll(() => page.locator("#latency-caption").textContent(), { timeout: 30_000 }).toMatch(/p50 [\d.]+ (ms|s) · p95 [\d.]+ (ms|s)/);
    expect(await page.locator("#latency-chart polyline").count()).toBeGreaterThan(0);
    expect(await page.locator("#queue-caption").textContent()).toMatch(/^Queue depth\. Now: waiting: \d+ · in progress: \d+ · peak [1-9]/);
    expect(await page.getByRole("img", { name: /^Latency \(submit to completion\)/ }).count()).toBe(1);
    expect(await page.getByRole("img", { name: /^Queue depth\./ }).count()).toBe(1);

    // A queued request shows up in the list; its logs open from there.
    const submitted = await submit({ value: "queued" });
    const id = submitted.request_id;
    const reqRow = page.locator(`#requests tr[data-request="${id}"][data-status="COMPLETED"]`);
    await reqRow.waitFor({ timeout: 20_000 });
    await reqRow.getByRole("button", { name: `Logs of request ${short(id)}` }).click();
    await expect.poll(() => page.locator("#logs").textContent(), { timeout: 30_000 }).toContain(`worked on ${id}`);
    await expect.poll(() => page.evaluate("document.activeElement && document.activeElement.id")).toBe("logs-h");
    // Usage is written every second.
    await expect.poll(() => page.locator("#usage tbody").textContent(), { timeout: 30_000 }).toContain("testadmin");
    await expect.poll(() => page.locator("#queue-caption").textContent()).toContain("waiting: 0");
    await shot("runners-requests-logs");

    // Phone width: still one column of readable content.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await shot("phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    // The key lives in sessionStorage only: not in the URL, cookies, localStorage or the console.
    const secret = platform.key.split(":")[1];
    expect(page.url()).not.toContain(secret);
    // (Page code as strings: the project's TypeScript has no DOM types.)
    const stored = await page.evaluate("({ session: Object.keys(sessionStorage), local: localStorage.length, cookie: document.cookie })");
    expect(stored).toEqual({ session: ["falplane.dashboard.key"], local: 0, cookie: "" });
    expect(consoleLines.join("\n")).not.toContain(secret);
    expect(consoleLines.filter((l) => l.startsWith("error") || l.startsWith("pageerror"))).toEqual([]);
  }, 150_000);

  it("an API key sees what it may do and that the management views need ADMIN", async () => {
    const apiKey = await platform.client.createKey("API", "dashboard test");
    await page.getByRole("button", { name: "Sign out" }).click();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    await page.getByLabel("API key").fill(`${apiKey.key_id}:${apiKey.key_secret}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "What this key may do" }).waitFor({ timeout: 30_000 });
    const text = await page.locator("#limited").textContent();
    expect(text).toContain("scope API");
    expect(text).toContain("needs an ADMIN key");
    expect(await page.locator("#apps-section").isVisible()).toBe(false);
    await shot("api-key");
  });
});
