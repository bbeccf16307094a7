/**
 * Progress lines from inside a dynamic provider, shown by `pulumi up` under
 * the resource while an operation runs (an environment build can take
 * minutes; silence reads like a hang).
 *
 * The engine starts the dynamic-provider plugin with its own address as the
 * first argument; a provider sends Log requests there, as providers written
 * in Go do through their host. Outside that process (tests that call a
 * provider's methods directly) lines go to `fallback`.
 */
export interface ProgressLog {
  info(message: string): Promise<void>;
  close(): void;
}

export function progressLog(urn: string | undefined, fallback: (message: string) => void = () => undefined): ProgressLog {
  const address = process.argv[2];
  const isEngine = !!urn && !!address && /^[\w.[\]:-]+:\d+$/.test(address) && (process.argv[1] ?? "").includes("dynamic-provider");
  if (!isEngine) return { info: async (m) => fallback(m), close: () => undefined };
  // Loaded here, in the provider's process: this function is serialized into the provider's closure.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const grpc = require("@grpc/grpc-js");
  const engineRpc = require("@pulumi/pulumi/proto/engine_grpc_pb");
  const engineProto = require("@pulumi/pulumi/proto/engine_pb");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const client = new engineRpc.EngineClient(address, grpc.credentials.createInsecure());
  return {
    info: (message) =>
      new Promise<void>((resolve) => {
        const req = new engineProto.LogRequest();
        req.setSeverity(engineProto.LogSeverity.INFO);
        req.setMessage(message);
        req.setUrn(urn);
        req.setEphemeral(false);
        // A lost progress line must never fail the deploy.
        client.log(req, () => resolve());
      }),
    close: () => client.close(),
  };
}
