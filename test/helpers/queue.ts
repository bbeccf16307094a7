/** Small queue-protocol helpers over plain fetch (what curl users do). */
export interface QueueTarget {
  readonly url: string;
  readonly key?: string;
  readonly endpoint: string;
}

export async function submit(t: QueueTarget, input: unknown, headers: Record<string, string> = {}, query = ""): Promise<string> {
  const res = await fetch(`${t.url}/queue/${t.endpoint}${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(t.key ? { authorization: `Key ${t.key}` } : {}), ...headers },
    body: JSON.stringify(input),
  });
  const body = (await res.json()) as { request_id?: string };
  if (res.status !== 200 || !body.request_id) throw new Error(`submit answered ${res.status}: ${JSON.stringify(body)}`);
  return body.request_id;
}

export async function status(t: QueueTarget, id: string): Promise<{ status: string; queue_position?: number; error?: string }> {
  const res = await fetch(`${t.url}/queue/${t.endpoint}/requests/${id}/status`, {
    headers: t.key ? { authorization: `Key ${t.key}` } : {},
  });
  return (await res.json()) as { status: string };
}

export async function waitDone(t: QueueTarget, id: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await status(t, id).catch(() => ({ status: "UNREACHABLE" }));
    if (s.status === "COMPLETED") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`request ${id} did not complete within ${timeoutMs} ms`);
}

export async function result(t: QueueTarget, id: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${t.url}/queue/${t.endpoint}/requests/${id}`, {
    headers: t.key ? { authorization: `Key ${t.key}` } : {},
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers };
}

/** Ledger lines the worker fixture wrote: request id → ids of the runners that served an attempt. */
export function readLedger(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const [id, runner] = line.trim().split(" ");
    if (!id) continue;
    m.set(id, [...(m.get(id) ?? []), runner]);
  }
  return m;
}

/** Waits until fn() returns true (for hooks, where expect.poll is not allowed). */
export async function until(fn: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
