/**
 * Dynamic provider of a revision: immutable code plus code-specific settings.
 * Any change to them replaces the resource, which creates a new revision on
 * the platform. Deleting the resource keeps the platform's revision for
 * rollback; revisions go when their app is deleted.
 */
import type * as pulumi from "@pulumi/pulumi";
import { clientFor, changedKeys, type ConnectionProps } from "./connection";
import { progressLog } from "./progressLog";
import { uploadFiles } from "../client/upload";
import type { CodeSettings, RuntimeScaling, AuthMode, FileEntry } from "../model/catalog";

export interface RevisionProps extends ConnectionProps {
  readonly appName: string;
  readonly environment: string;
  /** `file.py::Class`, relative to sourceDir. */
  readonly sourceObject: string;
  /** Absolute directory whose files are uploaded. Not part of the identity. */
  readonly sourceDir: string;
  readonly files: Record<string, FileEntry>;
  readonly codeSettings: CodeSettings;
  /** The code's runtime-tunable values: a snapshot on the revision, used by a first deploy. */
  readonly scaling: RuntimeScaling;
  readonly authMode: AuthMode;
  readonly message: string;
  readonly annotations: Record<string, string>;
  /** Build the environment from scratch instead of from the build cache. Not part of the identity. */
  readonly noCache?: boolean;
  /** This resource's own URN: build progress is logged under it while `pulumi up` waits. */
  readonly progressUrn?: string;
}

export interface RevisionOuts extends RevisionProps {
  readonly revisionId: string;
  readonly createdAt: string;
}

/** Inputs whose change makes a new revision. */
export const REVISION_IDENTITY = ["appName", "environment", "sourceObject", "files", "codeSettings"];

export const revisionProvider: pulumi.dynamic.ResourceProvider<RevisionProps, RevisionOuts> = {
  async diff(_id, olds, news) {
    const replaces = changedKeys(olds as unknown as Record<string, unknown>, news as unknown as Record<string, unknown>, REVISION_IDENTITY);
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
  },

  async create(inputs) {
    const client = clientFor(inputs);
    // Only the files the platform lacks are sent; every file must still match what preview saw.
    await uploadFiles(client, inputs.sourceDir, inputs.files);

    const rev = await client.createRevision(inputs.appName, inputs.environment, {
      source_object: inputs.sourceObject,
      files: inputs.files,
      code_settings: inputs.codeSettings,
      scaling: inputs.scaling,
      auth_mode: inputs.authMode,
      message: inputs.message,
      annotations: inputs.annotations,
      no_cache: inputs.noCache ?? false,
    });
    if (rev.build.status !== "READY") {
      // A build takes seconds to minutes: its log streams to `pulumi up` while the deploy waits.
      const progress = progressLog(inputs.progressUrn);
      try {
        const build = await client.followBuild(rev.build.id, (line) => progress.info(`build: ${line}`));
        if (build.status === "FAILED") {
          const reqs = build.requirements.length ? build.requirements.join(", ") : "none";
          throw new Error(`environment build failed for ${inputs.appName} (requirements: ${reqs}); revision ${rev.id} is Failed and the alias was not moved:\n${build.error ?? ""}`);
        }
      } finally {
        progress.close();
      }
    }
    return { id: rev.id, outs: { ...inputs, revisionId: rev.id, createdAt: rev.created_at } };
  },

  async update(_id, olds, news) {
    // Only connection details or the message changed: the revision itself is immutable.
    return { outs: { ...news, revisionId: olds.revisionId, createdAt: olds.createdAt } };
  },

  async read(id, props) {
    try {
      await clientFor(props!).getRevision(id);
      return { id, props };
    } catch (err) {
      if ((err as { status?: number }).status === 404) return { id: "", props };
      throw err;
    }
  },

  async delete() {
    // Kept on the platform for rollback (`falctl apps set-rev`); deleted with its app.
  },
};
