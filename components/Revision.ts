/**
 * An immutable revision of an app: its files, entrypoint and code-specific
 * settings. Changing any of them replaces the resource, which makes a new
 * revision; the old one stays on the platform for rollback
 * (`falctl apps set-rev`) until its app is deleted.
 */
import * as pulumi from "@pulumi/pulumi";
import { revisionProvider, type RevisionProps } from "../src/providers/revisionProvider";
import type { ConnectionProps } from "../src/providers/connection";
import type { CodeSettings } from "../src/model/catalog";
import type { ResolvedConnection } from "./connection";

/** What a Revision is made of: the provider's props, with the connection resolved and provenance optional. */
export interface RevisionArgs extends Omit<RevisionProps, keyof ConnectionProps | "message" | "annotations" | "progressUrn" | "codeSettings"> {
  /** Code-specific settings; an image app's carry the image reference, known once the image is pushed. */
  readonly codeSettings: pulumi.Input<CodeSettings>;
  /** This resource's URN (pulumi.createUrn), so build progress shows under it. Default: progress is not shown. */
  readonly progressUrn?: pulumi.Input<string>;
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
