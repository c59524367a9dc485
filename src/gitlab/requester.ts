// gitbeaker's default request handler retries 429/502 ten times within ~0.3 s, ignores Retry-After and has no
// timeout. This one makes a single attempt with a timeout and throws a GitLabError that says whether
// and when to retry; client.ts retries with backoff and the queue retries whole jobs.
import { createRequesterFn } from '@gitbeaker/requester-utils';
import { EnvHttpProxyAgent, FormData as UndiciFormData, fetch as undiciFetch } from 'undici';

export class GitLabError extends Error {
  override name = 'GitLabError';
  constructor(
    message: string,
    readonly status: number,
    readonly method: string,
    readonly endpoint: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  /** 5xx, 429, 408 and network failures (status 0) can heal; 4xx cannot. */
  get transient(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

interface HandlerOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | FormData;
  prefixUrl?: string;
  searchParams?: string;
  asStream?: boolean;
  signal?: AbortSignal;
}

function retryAfterMs(h: string | null): number | undefined {
  if (!h) return undefined;
  const secs = Number(h);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

async function describe(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const j = JSON.parse(text);
    const m = j?.message ?? j?.error ?? text;
    return typeof m === 'string' ? m : JSON.stringify(m);
  } catch {
    return text.slice(0, 300);
  }
}

/** undici says only "fetch failed"; the cause says why (ECONNREFUSED 127.0.0.1:443, ENOTFOUND, a TLS error). */
export function networkCause(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string; errors?: Error[] } };
  const c = err.cause;
  if (!c) return err.message;
  const inner = c.message || c.errors?.map((x) => x.message).join('; ') || c.code || String(c);
  return `${err.message}: ${inner}`;
}

const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

/** Whether outgoing HTTP goes through a proxy (curl's and git's variables). */
export const behindProxy = (env: NodeJS.ProcessEnv = process.env): boolean => PROXY_VARS.some((k) => env[k]);

/**
 * Node's global fetch ignores HTTPS_PROXY / HTTP_PROXY / NO_PROXY. Behind a proxy, GitLab calls go through undici's
 * EnvHttpProxyAgent, which reads them as curl and git do; without one, the global fetch as before.
 */
function proxiedFetch(env: NodeJS.ProcessEnv = process.env): typeof fetch {
  if (!behindProxy(env)) return fetch;
  const dispatcher = new EnvHttpProxyAgent();
  return ((url: URL, init: RequestInit) => undiciFetch(url, { ...(init as object), body: undiciBody(init.body), dispatcher })) as unknown as typeof fetch;
}

/** undici's fetch does not take Node's own FormData (gitbeaker's form posts): copy the fields into undici's. */
function undiciBody(body: RequestInit['body']) {
  if (!(body instanceof FormData)) return body as never;
  const form = new UndiciFormData();
  for (const [k, v] of body) form.append(k, v as string);
  return form;
}

/**
 * A request's deadline, joined with the caller's signal. A plain controller and timer: `AbortSignal.timeout` and
 * `AbortSignal.any` make transferable signals, whose set-up cost more CPU than the rest of a local request.
 */
export function abortAfter(ms: number, outer?: AbortSignal): { signal: AbortSignal; clear: () => void; timedOut: () => boolean } {
  const ctl = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    ctl.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError'));
  }, ms);
  timer.unref();
  const follow = () => ctl.abort(outer!.reason);
  if (outer?.aborted) follow();
  else outer?.addEventListener('abort', follow, { once: true });
  return {
    signal: ctl.signal,
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', follow);
    },
    timedOut: () => expired,
  };
}

export function createRequester(timeoutMs: number, transport?: typeof fetch) {
  const fetch = transport ?? proxiedFetch();
  return createRequesterFn(
    (_opts: unknown, reqo: unknown) => Promise.resolve(reqo as never),
    (async (endpoint: string, options?: Record<string, unknown>) => {
      const o = (options ?? {}) as HandlerOptions;
      const method = o.method ?? 'GET';
      const base = o.prefixUrl ? (o.prefixUrl.endsWith('/') ? o.prefixUrl : `${o.prefixUrl}/`) : undefined;
      const url = new URL(endpoint, base);
      url.search = o.searchParams ?? '';
      const deadline = abortAfter(timeoutMs, o.signal);
      let response: Response;
      try {
        response = await fetch(url, { method, headers: o.headers, body: o.body, signal: deadline.signal });
      } catch (e) {
        deadline.clear();
        const why = deadline.timedOut() ? `timed out after ${timeoutMs} ms` : networkCause(e);
        throw new GitLabError(`GitLab ${method} ${url.pathname}: ${why}`, 0, method, endpoint);
      }
      if (!response.ok) {
        const msg = await describe(response).finally(deadline.clear);
        throw new GitLabError(
          `GitLab ${method} ${url.pathname} → ${response.status}: ${msg}`,
          response.status,
          method,
          endpoint,
          retryAfterMs(response.headers.get('retry-after')),
        );
      }
      const headers = Object.fromEntries(response.headers.entries());
      if (o.asStream) return { body: response.body, headers, status: response.status }; // the deadline covers the stream too
      try {
        const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
        const body =
          response.status === 204 ? null : type === 'application/json' ? ((await response.json()) ?? {}) : await response.text();
        return { body, headers, status: response.status };
      } finally {
        deadline.clear();
      }
    }) as never,
  );
}
