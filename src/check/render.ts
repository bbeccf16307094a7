/**
 * Renders a deploy check as plain text (no ANSI colour codes): the same text
 * goes to the Pulumi log, to `pulumi preview --json` diagnostics, to the
 * FalApp output `deployCheck` and into PR comments.
 */
import type { DeployCheck } from "./types";

/** Marks the Auth line when the deploy changes the auth mode. */
export const AUTH_CHANGES_MARK = "  (changes)";
export const NO_CHANGES_LINE = "No production-facing config changes detected.";
export const TABLE_DIFF_TITLE = "Effective Production Diff";
export const TABLE_FIRST_TITLE = "Effective Deployment Values";
export const TABLE_HEAD = ["Setting", "Production", "After Deploy", "Note"];

export function renderDeployCheck(check: DeployCheck): string {
  const lines = [
    `Deployment Check: ${check.appName}`,
    `Target: ${check.appName} (env: ${check.environment})`,
    `Current revision: ${check.currentRevision ?? "none (first deployment)"}`,
    `Source object: ${check.sourceObject}`,
    ...(check.image ? [`Image: ${check.image}`] : []),
    ...(check.appClass ? [`App class: ${check.appClass}`] : []),
    ...(check.ignoredSettings.length ? [`Not applied on this platform: ${check.ignoredSettings.join(", ")} (see docs/moving-a-fal-app.md)`] : []),
    `Auth: ${check.authCurrent ?? "n/a"} -> ${check.authNext}${check.authChanges ? AUTH_CHANGES_MARK : ""}`,
    `Deployment strategy: ${check.strategy}`,
    `Environment build cache: ${check.buildCache}`,
    "",
  ];
  if (check.rows.length === 0) {
    lines.push(NO_CHANGES_LINE);
  } else {
    lines.push(check.firstDeployment ? TABLE_FIRST_TITLE : TABLE_DIFF_TITLE);
    lines.push(renderTable(TABLE_HEAD, check.rows.map((r) => [r.setting, r.production, r.afterDeploy, r.note])));
  }
  return lines.join("\n");
}

/**
 * The check's text when it could not be made: by default because the live
 * state could not be read. `reason` must not contain secrets.
 */
export function renderUnavailableCheck(
  appName: string,
  environment: string,
  reason: string,
  what = "read the live state from the platform",
): string {
  return [`Deployment Check: ${appName}`, `Target: ${appName} (env: ${environment})`, `The deploy check could not ${what}: ${reason}`].join("\n");
}

/**
 * A fixed plain ASCII table: a rule above and below the head and below the
 * last row, cells padded to the widest of their column. No colours, no wrapping.
 */
export function renderTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`;
  const line = (cells: readonly string[]) => `|${widths.map((w, i) => ` ${(cells[i] ?? "").padEnd(w)} `).join("|")}|`;
  return [rule, line(head), rule, ...rows.map(line), rule].join("\n");
}
