/**
 * Where webhooks may go. A caller of a public app names the webhook URL, and
 * the platform POSTs results there from inside the operator's network: left
 * open, that lets anyone make the platform call its own admin ports, a cloud
 * metadata service or any internal host (SSRF). So a webhook goes only to an
 * http(s) URL whose every address is public: not loopback, link-local,
 * private, carrier-grade NAT, unique-local, multicast or unspecified, unless
 * the operator's allow-list (`--webhook-allow`) names the host or a range
 * that holds the address.
 *
 * The check runs when the request is submitted (422 to the caller) and again
 * at every delivery, inside the connection's own address lookup, so a name
 * that resolved to a public address at submit time and to 127.0.0.1 later
 * (DNS rebinding) is refused too.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { PlatformError } from "../errors";

/** Address ranges no webhook may reach unless allow-listed. */
const NON_PUBLIC: readonly [string, number, "ipv4" | "ipv6"][] = [
  ["0.0.0.0", 8, "ipv4"], // "this network", 0.0.0.0 reaches the local host
  ["10.0.0.0", 8, "ipv4"],
  ["100.64.0.0", 10, "ipv4"], // carrier-grade NAT
  ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"], // link-local, cloud metadata services
  ["172.16.0.0", 12, "ipv4"],
  ["192.0.0.0", 24, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["198.18.0.0", 15, "ipv4"],
  ["224.0.0.0", 3, "ipv4"], // multicast and reserved, up to 255.255.255.255
  ["::", 128, "ipv6"],
  ["::1", 128, "ipv6"],
  ["fc00::", 7, "ipv6"], // unique-local
  ["fe80::", 10, "ipv6"], // link-local
  ["ff00::", 8, "ipv6"], // multicast
];

const BLOCKED = new BlockList();
for (const [net, prefix, type] of NON_PUBLIC) BLOCKED.addSubnet(net, prefix, type);

/** The operator's exceptions: host names, addresses and CIDR ranges. */
export class WebhookPolicy {
  private readonly hosts = new Set<string>();
  private readonly ranges = new BlockList();

  /** `entries`: `hooks.internal`, `127.0.0.1`, `10.0.0.0/8`, `::1`. Throws on an entry that is none of these. */
  constructor(readonly entries: readonly string[] = []) {
    for (const raw of entries) {
      const e = raw.trim().toLowerCase();
      const [addr, prefix] = e.split("/");
      const family = isIP(addr);
      if (family && prefix === undefined) this.ranges.addAddress(addr, family === 4 ? "ipv4" : "ipv6");
      else if (family && /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)) {
        this.ranges.addSubnet(addr, Number(prefix), family === 4 ? "ipv4" : "ipv6");
      } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(e)) this.hosts.add(e);
      else throw new Error(`webhook allow-list entry ${JSON.stringify(raw)} is not a host name, an IP address or a CIDR range`);
    }
  }

  hostAllowed(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  /** Why `address` may not be a webhook target, or undefined when it may. */
  refusal(address: string): string | undefined {
    const family = isIP(address);
    if (!family) return `${address} is not an IP address`;
    const type = family === 4 ? "ipv4" : "ipv6";
    if (this.ranges.check(address, type)) return undefined;
    const mapped = family === 6 ? mappedIpv4(address) : undefined;
    if (mapped !== undefined) return this.refusal(mapped);
    if (BLOCKED.check(address, type)) return `${address} is not a public address`;
    return undefined;
  }
}

/** The URL of a webhook, checked for form and, through DNS, for where it points; 422 otherwise. */
export async function checkWebhookUrl(raw: string, policy: WebhookPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(raw, "it is not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid(raw, `its scheme is ${url.protocol.replace(/:$/, "")}; only http and https are allowed`);
  if (url.username || url.password) throw invalid(raw, "it carries credentials");
  const host = hostOf(url);
  if (policy.hostAllowed(host)) return url;
  const addresses = isIP(host) ? [host] : await resolveAll(host).catch(() => []);
  if (addresses.length === 0) throw invalid(raw, `its host ${host} does not resolve`);
  for (const a of addresses) {
    const why = policy.refusal(a);
    if (why) throw invalid(raw, `${why}; webhooks go to public addresses unless the operator allows the host (--webhook-allow)`);
  }
  return url;
}

export interface WebhookPost {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly timeoutMs: number;
}

/** POSTs a webhook, refusing (as a failed attempt) any address the policy forbids, at connect time. */
export async function postWebhook(p: WebhookPost, policy: WebhookPolicy): Promise<number> {
  const url = await checkWebhookUrl(p.url, policy).catch((err: PlatformError) => {
    throw refused(err.message);
  });
  const host = hostOf(url);
  const guarded: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, found) => {
      if (err) return callback(err, "", 0);
      const list = found as unknown as LookupAddress[];
      const bad = policy.hostAllowed(host) ? undefined : list.map((a) => policy.refusal(a.address)).find(Boolean);
      if (bad) return callback(refused(`webhook refused: ${bad}`), "", 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const options: RequestOptions = {
    method: "POST",
    headers: { ...p.headers, "content-length": String(Buffer.byteLength(p.body)) },
    lookup: guarded,
    timeout: p.timeoutMs,
  };
  return new Promise((resolve, reject) => {
    const req = send(url, options, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${p.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(p.body);
  });
}

/** A delivery the policy refuses (not worth retrying): the code webhooks.ts looks for. */
export const WEBHOOK_REFUSED = "EWEBHOOKREFUSED";

function refused(message: string): Error {
  return Object.assign(new Error(message), { code: WEBHOOK_REFUSED });
}

function invalid(raw: string, why: string): PlatformError {
  return new PlatformError(422, "invalid", `fal_webhook ${JSON.stringify(raw.slice(0, 200))} is refused: ${why}`);
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(host, { all: true }, (err, found) => (err ? reject(err) : resolve(found.map((a) => a.address)))),
  );
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
function mappedIpv4(address: string): string | undefined {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m) return m[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return undefined;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
