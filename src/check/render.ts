/**
 * Renders a deploy check as plain text (no ANSI colour codes): the same text
 * goes to the Pulumi log, to `pulumi preview --json` diagnostics, to the
 * FalApp output `deployCheck` and into PR comments.
 */
import Table from "cli-table3";
import type { DeployCheck } from "./types";

/** Marks the Auth line when the deploy changes the auth mode. */
export const AUTH_CHANGES_MARK = "  (changes)";
export const NO_CHANGES_LINE = "No production-facing config changes detected.";
export const TABLE_DIFF_TITLE = "Effective Production Diff";
export const TABLE_FIRST_TITLE = "Effective Deployment Values";
export const TABLE_HEAD = ["Setting", "Production", "After Deploy", "Note"];

/** Plain ASCII borders: stable width in every terminal, log viewer and PR comment. */
const ASCII_CHARS = {
  top: "-",
  "top-mid": "+",
  "top-left": "+",
  "top-right": "+",
  bottom: "-",
  "bottom-mid": "+",
  "bottom-left": "+",
  "bottom-right": "+",
  left: "|",
  "left-mid": "",
  mid: "",
  "mid-mid": "",
  right: "|",
  "right-mid": "",
  middle: "|",
};

export function renderDeployCheck(check: DeployCheck): string {
  const lines = [
    `Deployment Check: ${check.appName}`,
    `Target: ${check.appName} (env: ${check.environment})`,
    `Current revision: ${check.currentRevision ?? "none (first deployment)"}`,
    `Source object: ${check.sourceObject}`,
    `Auth: ${check.authCurrent ?? "n/a"} -> ${check.authNext}${check.authChanges ? AUTH_CHANGES_MARK : ""}`,
    `Deployment strategy: ${check.strategy}`,
    `Environment build cache: ${check.buildCache}`,
    "",
  ];
  if (check.rows.length === 0) {
    lines.push(NO_CHANGES_LINE);
  } else {
    lines.push(check.firstDeployment ? TABLE_FIRST_TITLE : TABLE_DIFF_TITLE);
    const table = new Table({ head: TABLE_HEAD, chars: ASCII_CHARS, style: { head: [], border: [], "padding-left": 1, "padding-right": 1 } });
    for (const r of check.rows) table.push([r.setting, r.production, r.afterDeploy, r.note]);
    lines.push(table.toString());
  }
  return lines.join("\n");
}

/** The check's text when the live state could not be read; `reason` must not contain secrets. */
export function renderUnavailableCheck(appName: string, environment: string, reason: string): string {
  return [
    `Deployment Check: ${appName}`,
    `Target: ${appName} (env: ${environment})`,
    `The deploy check could not read the live state from the platform: ${reason}`,
  ].join("\n");
}
