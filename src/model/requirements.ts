/**
 * An app's Python dependencies as pip requirement strings, the way fal apps
 * declare them (`requirements = ["torch==2.4.0", ...]`), or read from a
 * `requirements.txt` beside the app when the spec names none.
 *
 * Read on the deploying side (component, falctl) so that the requirements are
 * part of the revision's code settings: a change makes a new revision, and the
 * deploy check can say whether the platform already has the environment.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const REQUIREMENTS_FILE = "requirements.txt";

/** A requirements.txt line this platform does not take (options, includes, editable installs). */
export class RequirementsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RequirementsError";
  }
}

/**
 * The requirement strings of a requirements.txt: comments and blank lines
 * dropped, `\` continuations joined. Options (`-r`, `-e`, `--index-url`, ...)
 * are refused: the package index is the operator's choice, and every file an
 * app needs must be among its own files.
 */
export function parseRequirementsTxt(text: string, file = REQUIREMENTS_FILE): string[] {
  const out: string[] = [];
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (!line) return;
    if (line.startsWith("-")) {
      throw new RequirementsError(
        `${file}:${i + 1}: '${line}' is a pip option; only requirement strings are allowed (e.g. 'pyfiglet==1.0.4'); the package index is set by the platform's operator`,
      );
    }
    out.push(line);
  });
  return out;
}

/**
 * The app's requirements: the spec's list when it has one, else the
 * requirements.txt in the app's root directory, else none.
 */
export function resolveRequirements(root: string, fromSpec: readonly string[] | undefined): string[] {
  if (fromSpec !== undefined) return normaliseRequirements(fromSpec);
  const file = join(root, REQUIREMENTS_FILE);
  if (!existsSync(file)) return [];
  return normaliseRequirements(parseRequirementsTxt(readFileSync(file, "utf8"), file));
}

/**
 * One spelling per requirement set: whitespace collapsed, duplicates dropped,
 * sorted. Two apps that list the same packages in another order share one
 * environment build.
 */
export function normaliseRequirements(reqs: readonly string[]): string[] {
  const set = new Set(reqs.map((r) => r.trim().replace(/\s+/g, " ")).filter((r) => r.length > 0));
  return [...set].sort();
}
