/** Where the components find the platform: stack config, or explicit args. */
import * as pulumi from "@pulumi/pulumi";

export interface PlatformConnection {
  /** Platform URL. Default: stack config `falplane:url`, else env FALPLANE_URL, else http://127.0.0.1:8787. */
  readonly url?: pulumi.Input<string>;
  /** `key_id:secret`. Default: secret stack config `falplane:apiKey`, else env FAL_KEY. Always treated as a secret. */
  readonly apiKey?: pulumi.Input<string>;
}

export interface ResolvedConnection {
  readonly platformUrl: pulumi.Input<string>;
  readonly apiKey: pulumi.Output<string>;
}

export function resolveConnection(conn: PlatformConnection | undefined): ResolvedConnection {
  const cfg = new pulumi.Config("falplane");
  const url = conn?.url ?? cfg.get("url") ?? process.env.FALPLANE_URL ?? "http://127.0.0.1:8787";
  const key = conn?.apiKey ?? cfg.getSecret("apiKey") ?? process.env.FAL_KEY;
  if (key === undefined) {
    throw new pulumi.RunError(
      "no platform API key: set it with `pulumi config set --secret falplane:apiKey <key_id:secret>` or export FAL_KEY",
    );
  }
  return { platformUrl: url, apiKey: pulumi.secret(key) };
}
