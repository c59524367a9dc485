// Webhook authentication: the plain X-Gitlab-Token, and GitLab's HMAC signing token (Standard Webhooks).
// Either one authenticates a delivery on its own; every credential a delivery carries that the bot is configured
// for must be right (a wrong token next to a good signature is still a 401: something is misconfigured).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Constant-time string comparison (hashing first makes lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** The configured secret and its digest, made once: it is compared on every delivery. */
let configured: { secret: string; digest: Buffer } | undefined;

/** safeEqual against the configured secret. */
function matchesSecret(given: string, secret: string): boolean {
  if (configured?.secret !== secret) configured = { secret, digest: sha256(secret) };
  return timingSafeEqual(sha256(given), configured.digest);
}

/** How far webhook-timestamp may be from our clock (Standard Webhooks' recommendation): replays older than this fail. */
export const SIGNATURE_TOLERANCE_SEC = 300;

export interface SignatureHeaders {
  id?: string;
  timestamp?: string;
  signature?: string;
}

export type Credentials = { ok: true; token: boolean; signature: false | SignatureHeaders } | { ok: false; reason: string };

/**
 * The part of authentication that needs only the headers, run before the body is read. A signature still has to
 * be checked against the body (verifyBody); its timestamp is checked here already, so a replay is refused unread.
 */
export function checkCredentials(
  cfg: { secret?: string; signingKey?: string },
  header: (name: string) => string | undefined,
  now = Date.now(),
): Credentials {
  const token = header('x-gitlab-token');
  const sig: SignatureHeaders = { id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature') };
  const tokenSent = token !== undefined && !!cfg.secret;
  const signatureSent = !!cfg.signingKey && !!(sig.id || sig.timestamp || sig.signature);
  if (tokenSent && !matchesSecret(token, cfg.secret!)) return { ok: false, reason: 'wrong X-Gitlab-Token' };
  if (signatureSent) {
    const fresh = signatureFresh(sig, now);
    if (!fresh.ok) return fresh;
  }
  if (!tokenSent && !signatureSent) {
    const want = [cfg.secret && 'X-Gitlab-Token', cfg.signingKey && 'webhook-signature'].filter(Boolean).join(' or ');
    return { ok: false, reason: `missing ${want}` };
  }
  return { ok: true, token: tokenSent, signature: signatureSent ? sig : false };
}

/** The body half: a delivery that came with a signature is accepted only if it signs this body. */
export function verifyBody(creds: Extract<Credentials, { ok: true }>, signingKey: string | undefined, rawBody: string, now = Date.now()) {
  if (!creds.signature || !signingKey) return { ok: true } as const;
  return verifySignature(signingKey, creds.signature, rawBody, SIGNATURE_TOLERANCE_SEC, now);
}

function signatureFresh(h: SignatureHeaders, now: number, toleranceSec = SIGNATURE_TOLERANCE_SEC): { ok: true } | { ok: false; reason: string } {
  if (!h.id || !h.timestamp || !h.signature) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  const ts = Number(h.timestamp);
  if (!Number.isFinite(ts)) return { ok: false, reason: 'invalid webhook-timestamp' };
  if (Math.abs(now / 1000 - ts) > toleranceSec) return { ok: false, reason: 'stale webhook-timestamp' };
  return { ok: true };
}

/** base64 HMAC-SHA256 over "<id>.<timestamp>.<body>"; the key as GitLab shows it (`whsec_<base64>`) or raw. */
export function signPayload(key: string, id: string, timestamp: string, rawBody: string): string {
  const secret = key.startsWith('whsec_') ? Buffer.from(key.slice(6), 'base64') : Buffer.from(key);
  return createHmac('sha256', secret).update(`${id}.${timestamp}.${rawBody}`).digest('base64');
}

/**
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` (space-separated list allowed).
 * The key may be given as GitLab shows it (`whsec_<base64>`) or raw.
 */
export function verifySignature(
  key: string,
  headers: SignatureHeaders,
  rawBody: string,
  toleranceSec = SIGNATURE_TOLERANCE_SEC,
  now = Date.now(),
): { ok: true } | { ok: false; reason: string } {
  const fresh = signatureFresh(headers, now, toleranceSec);
  if (!fresh.ok) return fresh;
  const { id, timestamp, signature } = headers;
  const expected = signPayload(key, id!, timestamp!, rawBody);
  const match = signature!
    .split(' ')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1,'))
    .some((s) => safeEqual(s.slice(3), expected));
  return match ? { ok: true } : { ok: false, reason: 'signature mismatch' };
}
