// What makes two deliveries the same delivery. GitLab 17.4+ sends `Idempotency-Key`, unchanged on a manual or API
// "Resend" (signing-token hooks send it as `webhook-id` too). Older GitLab sends none: then the object and its
// update time stand in for it (a resend carries the stored payload, so they match). `X-Gitlab-Event-UUID` is not a
// delivery id: every hook fired by one event (and recursive hooks) share it.

const MAX_KEY = 200;

/** The dedupe key of a delivery, or undefined when neither the headers nor the payload identify it. */
export function deliveryKey(header: (name: string) => string | undefined, payload: unknown): string | undefined {
  const idem = (header('idempotency-key') ?? header('webhook-id'))?.trim();
  if (idem) return `idem:${idem.slice(0, MAX_KEY)}`;
  return objectVersionKey(payload);
}

/** `<kind>:<id>@<updated_at>` (+ the MR action and head, which an MR hook can change within one second). */
function objectVersionKey(payload: unknown): string | undefined {
  if (!isObject(payload) || !isObject(payload.object_attributes)) return undefined;
  const kind = payload.object_kind;
  const a = payload.object_attributes;
  if (typeof kind !== 'string' || !isId(a.id) || typeof a.updated_at !== 'string' || !a.updated_at) return undefined;
  const parts = [`${kind}:${a.id}@${a.updated_at}`];
  if (kind === 'merge_request') {
    const head = isObject(a.last_commit) && typeof a.last_commit.id === 'string' ? a.last_commit.id : '';
    parts.push(typeof a.action === 'string' ? a.action : '', head);
  }
  return `obj:${parts.join(':')}`.slice(0, MAX_KEY);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
