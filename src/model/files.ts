/**
 * An app's files as the platform sees them: relative path → sha256 of the
 * content and the file mode. Only hashes the platform lacks are uploaded.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

import type { FileEntry } from "./catalog";

/** Names never uploaded: caches, VCS data, virtualenvs, dependencies. */
const IGNORED = new Set(["__pycache__", ".git", ".venv", "venv", "node_modules", ".pytest_cache", ".mypy_cache", ".DS_Store"]);

export function collectAppFiles(root: string): Record<string, FileEntry> {
  const out: Record<string, FileEntry> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (IGNORED.has(name) || name.endsWith(".pyc")) continue;
      const full = join(dir, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) {
        out[relative(root, full).split(sep).join("/")] = {
          hash: createHash("sha256").update(readFileSync(full)).digest("hex"),
          mode: st.mode & 0o777,
        };
      }
    }
  };
  walk(root);
  return out;
}
