/**
 * Uploading an app's files: the one way every deploy path (the Revision
 * provider, `deployDirectory`, the tests) gets files onto the platform. Asks
 * which hashes the platform lacks and sends only those, each once.
 *
 * Every file is read and checked against the hash the caller collected, not
 * only the ones sent: a revision must be exactly the files the caller (for
 * Pulumi: the preview) saw, and a file edited since is refused by name before
 * anything is created.
 *
 * Serialized into the Revision provider's closure like the client, so the
 * Node built-ins are loaded inside the function, in the provider's process.
 */
import type { PlatformClient } from "./client";
import type { FileEntry } from "../model/catalog";

export async function uploadFiles(
  client: Pick<PlatformClient, "missingBlobs" | "putBlob">,
  dir: string,
  files: Readonly<Record<string, FileEntry>>,
): Promise<void> {
  const { createHash } = await import("node:crypto");
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const missing = new Set(await client.missingBlobs(Object.values(files).map((f) => f.hash)));
  for (const [rel, entry] of Object.entries(files)) {
    const content = readFileSync(join(dir, rel));
    const hash = createHash("sha256").update(content).digest("hex");
    if (hash !== entry.hash) {
      throw new Error(`${join(dir, rel)} changed after the program read it; run the deploy again`);
    }
    if (!missing.has(hash)) continue;
    await client.putBlob(hash, content);
    // Two files with one content: sent once.
    missing.delete(hash);
  }
}
