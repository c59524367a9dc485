// Webhook authentication: the plain X-Gitlab-Token, and GitLab's HMAC signing token (Standard Webhooks).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Constant-time string comparison (hashing first makes lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` (space-separated list allowed).
 * The key may be given as GitLab shows it (`whsec_<base64>`) or raw.
 */
export function verifySignature(
  key: string,
  headers: { id?: string; timestamp?: string; signature?: string },
  rawBody: string,
  toleranceSec = 300,
  now = Date.now(),
): { ok: true } | { ok: false; reason: string } {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  const ts = Number(timestamp);
  if (!Number.isFinite(ts)) return { ok: false, reason: 'invalid webhook-timestamp' };
  if (Math.abs(now / 1000 - ts) > toleranceSec) return { ok: false, reason: 'stale webhook-timestamp' };
  const secret = key.startsWith('whsec_') ? Buffer.from(key.slice(6), 'base64') : Buffer.from(key);
  const expected = createHmac('sha256', secret).update(`${id}.${timestamp}.${rawBody}`).digest('base64');
  const match = signature
    .split(' ')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1,'))
    .some((s) => safeEqual(s.slice(3), expected));
  return match ? { ok: true } : { ok: false, reason: 'signature mismatch' };
}
