/**
 * An immutable revision of an app: its files, entrypoint and code-specific
 * settings. Changing any of them replaces the resource, which makes a new
 * revision; the old one stays on the platform for rollback
 * (`falctl apps set-rev`) until its app is deleted.
 */
import * as pulumi from "@pulumi/pulumi";
import { revisionProvider } from "../src/providers/revisionProvider";
import type { CodeSettings, RuntimeScaling, AuthMode } from "../src/spec/catalog";
import type { FileEntry } from "../src/spec/files";
import type { ResolvedConnection } from "./platform";

export interface RevisionArgs {
  readonly appName: string;
  readonly environment: string;
  /** `file.py::Class`, relative to sourceDir. */
  readonly sourceObject: string;
  /** Absolute directory of the app's files. */
  readonly sourceDir: string;
  /** Relative path → content hash and mode, as collectAppFiles gives. */
  readonly files: Record<string, FileEntry>;
  readonly codeSettings: CodeSettings;
  /** Runtime-tunable values of the code (the revision's scaling snapshot). */
  readonly scaling: RuntimeScaling;
  /** Auth mode an app created by this revision starts with. */
  readonly authMode: AuthMode;
  /** Provenance note. Default "". */
  readonly message?: string;
  /** Provenance annotations (e.g. git_commit). Default {}. */
  readonly annotations?: Record<string, string>;
  readonly connection: ResolvedConnection;
}

export class Revision extends pulumi.dynamic.Resource {
  /** The platform's revision id. */
  declare readonly revisionId: pulumi.Output<string>;
  declare readonly createdAt: pulumi.Output<string>;
  declare readonly sourceObject: pulumi.Output<string>;

  constructor(name: string, args: RevisionArgs, opts?: pulumi.CustomResourceOptions) {
    const { connection, ...rest } = args;
    super(
      revisionProvider,
      name,
      {
        ...rest,
        message: args.message ?? "",
        annotations: args.annotations ?? {},
        platformUrl: connection.platformUrl,
        apiKey: connection.apiKey,
        revisionId: undefined,
        createdAt: undefined,
      },
      { ...opts, additionalSecretOutputs: ["apiKey"] },
      "falplane",
      "Revision",
    );
  }
}
