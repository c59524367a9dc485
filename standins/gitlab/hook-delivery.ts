/**
 * GitLab's WebHookService and WebHooks::AutoDisabling (app/services/web_hook_service.rb,
 * app/models/concerns/web_hooks/auto_disabling.rb, 17.11+):
 * - a delivery is made once: a failure is logged and never retried;
 * - any non-2xx answer, a timeout (10 s on GitLab.com) or a network error counts as a failure (`backoff!`);
 *   a 2xx resets the count (`enable!`);
 * - more than 3 consecutive failures: disabled until `now + 1 min × 2^(failures − 4)` (at most 1 day);
 *   the 40th failure disables the hook for good;
 * - a disabled hook gets no deliveries; a test delivery (`force`) still goes out and a 2xx re-enables it.
 */
import { createHmac } from 'node:crypto';
import type { HookRec } from './model.js';

export const TEMPORARILY_DISABLED_FAILURE_THRESHOLD = 3;
export const PERMANENTLY_DISABLED_FAILURE_THRESHOLD = 39;
const INITIAL_BACKOFF_MS = 60_000;
const MAX_BACKOFF_MS = 24 * 3600_000;

export type AlertStatus = 'executable' | 'temporarily_disabled' | 'disabled';

/** The failure state kept on each hook record (web_hooks.recent_failures, web_hooks.disabled_until). */
export interface HookHealth { recentFailures: number; disabledUntil: number | null }

const health = (h: HookRec): HookHealth => ({ recentFailures: Number(h.recentFailures ?? 0), disabledUntil: (h.disabledUntil as number | null | undefined) ?? null });

export function temporarilyDisabled(h: HookRec, now: number): boolean {
  const s = health(h);
  return s.disabledUntil !== null && s.disabledUntil >= now
    && s.recentFailures > TEMPORARILY_DISABLED_FAILURE_THRESHOLD && s.recentFailures <= PERMANENTLY_DISABLED_FAILURE_THRESHOLD;
}

export function permanentlyDisabled(h: HookRec): boolean {
  return health(h).recentFailures > PERMANENTLY_DISABLED_FAILURE_THRESHOLD;
}

export const executable = (h: HookRec, now: number) => !temporarilyDisabled(h, now) && !permanentlyDisabled(h);

export function alertStatus(h: HookRec, now: number): AlertStatus {
  if (temporarilyDisabled(h, now)) return 'temporarily_disabled';
  if (permanentlyDisabled(h)) return 'disabled';
  return 'executable';
}

/** The hooks API's view of the failure state. */
export function hookHealthJson(h: HookRec, now: number) {
  const { disabledUntil } = health(h);
  return { alert_status: alertStatus(h, now), disabled_until: disabledUntil === null ? null : new Date(disabledUntil).toISOString() };
}

/** WebHook#enable!: a 2xx answer. */
function enable(h: HookRec): void {
  h.recentFailures = 0;
  h.disabledUntil = null;
}

/** WebHook#backoff!: the backoff is computed from the failure count before this failure. */
function backoff(h: HookRec, now: number): void {
  if (!executable(h, now)) return;
  const before = health(h).recentFailures;
  const next = Math.min(before + 1, PERMANENTLY_DISABLED_FAILURE_THRESHOLD + 1);
  h.recentFailures = next;
  if (next > TEMPORARILY_DISABLED_FAILURE_THRESHOLD) {
    const ms = INITIAL_BACKOFF_MS * 2 ** (before - TEMPORARILY_DISABLED_FAILURE_THRESHOLD);
    h.disabledUntil = now + Math.min(MAX_BACKOFF_MS, Math.max(INITIAL_BACKOFF_MS, ms));
  }
}

/** One row of the hook's "Recent events" (web_hook_logs). */
export interface HookLogEntry {
  hookId: number; url: string; trigger: string; status: number; body: string;
  /** 'timeout' or the network error; GitLab logs these as "internal error" with response status 0 */
  error?: string; at: number;
}

export interface DeliveryOptions {
  headers: Record<string, string>;
  body: string;
  trigger: string;
  now: number;
  timeoutMs: number;
  /** a test delivery: sent even to a disabled hook */
  force?: boolean;
}

/** Standard Webhooks headers for a hook with a signing token (`whsec_<base64 key>`), as GitLab 19.0 signs. */
export function signingHeaders(signingToken: string, id: string, body: string, now: number): Record<string, string> {
  const key = signingToken.startsWith('whsec_') ? Buffer.from(signingToken.slice(6), 'base64') : Buffer.from(signingToken);
  const ts = String(Math.floor(now / 1000));
  const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
}

/** WebHookService#execute for one hook: deliver once, record the outcome, update the failure count. Skipped (undefined) when disabled. */
export async function executeHook(h: HookRec, o: DeliveryOptions): Promise<HookLogEntry | undefined> {
  if (!o.force && !executable(h, o.now)) return undefined;
  const entry: HookLogEntry = { hookId: h.id, url: h.url, trigger: o.trigger, status: 0, body: '', at: o.now };
  try {
    const r = await fetch(h.url, { method: 'POST', headers: o.headers, body: o.body, signal: AbortSignal.timeout(o.timeoutMs), redirect: 'manual' });
    entry.status = r.status;
    entry.body = await r.text();
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    entry.error = err.name === 'TimeoutError' ? 'timeout' : (err.cause?.code ?? err.message);
  }
  if (entry.status >= 200 && entry.status < 300) enable(h);
  else backoff(h, o.now);
  return entry;
}
