/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// The status page at `/`: recent MRs, each MR's session tree (trunk → one fork per thread), recent failures.
// Server-rendered HTML (hono's JSX), no JavaScript. Off unless ADMIN_TOKEN is set; then it needs the token as
// `Authorization: Bearer`, or once as `?token=`, which is traded for an HttpOnly cookie and dropped from the URL.
// The pragma on line 1 sets the JSX runtime in the file itself: the image ships src/ without tsconfig.json.
// Everything shown comes from webhook payloads and MR text (untrusted): a Content-Security-Policy allows no script
// and no external load (only this page's own stylesheet, by hash), and only http(s) URLs become links.
// Paginated (`?page=`): one page of MRs is rendered, never every record.
import { createHash, createHmac } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { FC } from 'hono/jsx';
import { within } from '../deadline.js';
import type { QueueStats } from '../jobs/queue.js';
import { scopeText, type Learning } from '../review/learnings.js';
import type { FailureRecord, MrRecord, ThreadRecord } from '../store/records.js';
import type { Sizes } from '../store/retention.js';
import type { Store } from '../store/store.js';
import { safeEqual } from './webhook-auth.js';

export interface StatusPageDeps {
  adminToken?: string;
  store: Pick<Store, 'listMrs' | 'listThreads' | 'listFailures'>;
  queueStats?: () => Promise<QueueStats>;
  /** a start-up problem to show first (e.g. "waiting for GitLab since …: <cause>") */
  notice?: () => string | undefined;
  /** disk use and record counts at the last retention sweep */
  sizes?: () => Sizes | undefined;
  /** MRs per page */
  limit?: number;
  /** every project's team learnings (store/learnings.ts) */
  learnings?: () => Promise<Map<number, Learning[]>>;
  /** how long the page waits for the store (Redis can be down) before it answers 503 */
  loadTimeoutMs?: number;
}

const COOKIE = 'mrr_admin';

/** The cookie holds a digest of the token, not the token itself. */
const cookieValue = (token: string) => createHmac('sha256', token).update('mr-reviewer status page').digest('base64url');

export function mountStatusPage(app: Hono, d: StatusPageDeps): void {
  const token = d.adminToken;
  if (!token) return; // never public: without a token `/` stays a 404
  let last: Promise<unknown> = Promise.resolve();
  /** page loads one after another (see load()) */
  const serial = <T,>(fn: () => Promise<T>): Promise<T> => {
    const next = last.then(fn, fn);
    last = next.catch(() => undefined);
    return next;
  };
  app.get('/', async (c) => {
    const q = c.req.query('token');
    if (q !== undefined) {
      if (!safeEqual(q, token)) return denied(c);
      const https = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
      setCookie(c, COOKIE, cookieValue(token), { httpOnly: true, sameSite: 'Strict', path: '/', secure: https, maxAge: 7 * 24 * 3600 });
      return c.redirect(new URL(c.req.url).pathname, 303);
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const cookie = getCookie(c, COOKIE);
    const ok = (bearer && safeEqual(bearer, token)) || (cookie && safeEqual(cookie, cookieValue(token)));
    if (!ok) return denied(c);
    const page = Math.max(1, Math.min(10_000, Number.parseInt(c.req.query('page') ?? '1', 10) || 1));
    // A store that does not answer (Redis down) must not hang the page: after the deadline it says so instead.
    const view = await serial(() => within(load(d, page), d.loadTimeoutMs ?? 3_000).catch(() => undefined));
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Cache-Control', 'no-store');
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'no-referrer');
    if (!view) return c.html(`<!doctype html><title>mr-reviewer</title><p>The store is not answering (is Redis down?); see /readyz.</p>`, 503);
    return c.html(`<!doctype html>${(<Page {...view} />).toString()}`);
  });
}

function denied(c: Context) {
  c.header('WWW-Authenticate', 'Bearer realm="mr-reviewer"');
  return c.text('admin token required: send Authorization: Bearer <ADMIN_TOKEN> or open /?token=<ADMIN_TOKEN>', 401);
}

interface MrView {
  mr: MrRecord;
  threads: ThreadRecord[];
}

interface View {
  mrs: MrView[];
  failures: FailureRecord[];
  stats?: QueueStats;
  notice?: string;
  sizes?: Sizes;
  now: Date;
  page: number;
  hasMore: boolean;
  learnings: [number, Learning[]][];
}

async function load(d: StatusPageDeps, page: number): Promise<View> {
  // One scan at a time: the SQLite keyv adapter's iterator is a single prepared statement, and two scans at
  // once fail with "This statement is busy executing a query".
  const stats = await d.queueStats?.().catch(() => undefined);
  const size = d.limit ?? 30;
  // One more than a page tells whether there is a next one.
  const pageMrs = await d.store.listMrs(size + 1, (page - 1) * size);
  const hasMore = pageMrs.length > size;
  const shown = new Set(pageMrs.slice(0, size).map((mr) => `${mr.projectId}:${mr.iid}`));
  // One scan for all threads, kept only for this page's MRs (a scan per MR would read the whole store once per row).
  const byMr = new Map<string, ThreadRecord[]>();
  for (const t of await d.store.listThreads()) {
    const k = `${t.projectId}:${t.iid}`;
    if (shown.has(k)) byMr.set(k, [...(byMr.get(k) ?? []), t]);
  }
  const mrs: MrView[] = pageMrs.slice(0, size).map((mr) => ({
    mr,
    threads: (byMr.get(`${mr.projectId}:${mr.iid}`) ?? []).sort((a, b) => a.createdAt.localeCompare(b.createdAt)),
  }));
  const failures = await d.store.listFailures(20);
  const learnings = [...((await d.learnings?.()) ?? new Map<number, Learning[]>())].sort(([a], [b]) => a - b);
  return { mrs, failures, stats, notice: d.notice?.(), sizes: d.sizes?.(), now: new Date(), page, hasMore, learnings };
}

/** A link target only if it is an absolute http(s) URL: a `javascript:` or `data:` URL in a payload stays text. */
export function safeHref(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

const usd = (n: number) => `$${n.toFixed(n < 1 ? 4 : 2)}`;
const short = (s?: string, n = 8) => (s ? s.slice(0, n) : '—');

function ago(iso: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A GitLab link to the thread: the note URL from the webhook, else the MR with the thread's last note as anchor. */
function threadLink(mr: MrRecord, t: ThreadRecord): string | undefined {
  if (t.url) return safeHref(t.url);
  if (mr.webUrl && t.lastSeenNoteId > 0) return safeHref(`${mr.webUrl}#note_${t.lastSeenNoteId}`);
  return safeHref(mr.webUrl);
}

const When: FC<{ at: string; now: Date }> = ({ at, now }) => <time datetime={at} title={at}>{ago(at, now)}</time>;

const Tree: FC<{ v: MrView; now: Date }> = ({ v, now }) => {
  const { mr, threads } = v;
  return (
    <ul class="tree">
      <li data-role="trunk" data-session={mr.trunkSessionId ?? ''}>
        <strong>trunk</strong> <code title={mr.trunkSessionId}>{short(mr.trunkSessionId)}</code>
        <span class={`st st-${mr.trunkStatus ?? 'none'}`}>{mr.trunkStatus ?? 'no session'}</span>
        <span>{mr.turns} turns</span> <span>{usd(mr.costUsd)}</span> <When at={mr.updatedAt} now={now} />
        {threads.length > 0 && (
          <ul>
            {threads.map((t) => {
              const href = threadLink(mr, t);
              return (
                <li data-role="fork" data-session={t.forkSessionId} data-discussion={t.discussionId}>
                  <strong>fork</strong> <code title={t.forkSessionId}>{short(t.forkSessionId)}</code>
                  <span class={`st st-${t.status}`}>{t.status}</span>
                  <span>{t.turns} turns</span> <span>{usd(t.costUsd)}</span> <When at={t.updatedAt} now={now} />
                  {t.rebuilds > 0 && <span>rebuilt {t.rebuilds}×</span>}
                  {href ? <a href={href}>thread {short(t.discussionId)}</a> : <span>thread {short(t.discussionId)}</span>}
                </li>
              );
            })}
          </ul>
        )}
      </li>
    </ul>
  );
};

const MrCard: FC<{ v: MrView; now: Date }> = ({ v, now }) => {
  const { mr, threads } = v;
  const total = mr.costUsd + threads.reduce((s, t) => s + t.costUsd, 0);
  const name = `${mr.projectPath}!${mr.iid}`;
  const href = safeHref(mr.webUrl);
  return (
    <article class="mr" data-mr={`${mr.projectId}:${mr.iid}`}>
      <h3>
        {href ? <a href={href}>{name}</a> : name} <span class="title">{mr.title ?? ''}</span>
      </h3>
      <dl>
        <dt>state</dt>
        <dd>{mr.paused ? 'paused' : (mr.trunkStatus ?? 'not reviewed')}</dd>
        <dt>reviewed commit</dt>
        <dd><code>{short(mr.reviewedSha, 12)}</code></dd>
        <dt>reviews</dt>
        <dd>{mr.reviews}</dd>
        <dt>cost</dt>
        <dd>{usd(total)}</dd>
        <dt>threads</dt>
        <dd>{threads.length}</dd>
        <dt>last activity</dt>
        <dd><When at={mr.updatedAt} now={now} /></dd>
      </dl>
      {mr.lastError && <p class="err">last error: {mr.lastError}</p>}
      <Tree v={v} now={now} />
      {(mr.applies ?? []).length > 0 && (
        <ul class="applies">
          {(mr.applies ?? []).map((a) => (
            <li data-role="apply" data-discussion={a.discussionId}>
              <strong>apply</strong> <span class={`st st-${a.outcome}`}>{a.outcome}</span> approved by <span class="approver">@{a.approver}</span>
              {a.commit && <> <code title={a.commit}>{short(a.commit, 12)}</code></>} {a.detail && <span>{a.detail}</span>} <When at={a.at} now={now} />
            </li>
          ))}
        </ul>
      )}
    </article>
  );
};

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.mr{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}
.mr h3{margin:.2rem 0;font-size:1rem}.title{font-weight:normal;color:#555}
dl{display:grid;grid-template-columns:max-content auto max-content auto max-content auto;gap:.1rem .8rem;margin:.4rem 0}
dt{color:#777}dd{margin:0}
.tree,.tree ul{list-style:none;padding-left:1.2rem;margin:.3rem 0}
.tree li{margin:.2rem 0}.tree ul li::before{content:"└─ ";color:#999}
.tree span,.tree a{margin-left:.5rem}
.st{padding:0 .35rem;border-radius:3px;background:#eee}.st-done{background:#dfd}.st-failed{background:#fdd}.st-running{background:#ffd}
.err{color:#a00}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.2rem .4rem;text-align:left;vertical-align:top}
nav a{margin-right:1rem}
`;

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

const SizesLine: FC<{ s: Sizes }> = ({ s }) => (
  <p data-role="sizes">
    Disk: {mb(s.disk.work)} worktrees, {mb(s.disk.repos)} mirrors, {mb(s.disk.transcripts)} transcripts, {mb(s.disk.state)} state files.
    Store: {s.records.mrs} MRs, {s.records.threads} threads, {s.records.failures} failures (measured at the last retention sweep).
  </p>
);

/** No script, nothing from elsewhere, no forms or framing; the one inline stylesheet is allowed by its hash. */
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** One project's learnings, newest first; text from MRs, so escaped by JSX and linked only to http(s). */
const LearningsTable: FC<{ pid: number; items: Learning[]; now: Date }> = ({ pid, items, now }) => (
  <table class="learnings" data-project={String(pid)}>
    <caption>project {pid}: {items.length} learning{items.length === 1 ? '' : 's'}</caption>
    <thead>
      <tr><th>id</th><th>scope</th><th>instruction</th><th>taught by</th><th>when</th></tr>
    </thead>
    <tbody>
      {[...items].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 100).map((l) => {
        const href = safeHref(l.url);
        return (
          <tr data-learning={l.id}>
            <td><code>{l.id}</code></td>
            <td>{scopeText(l)}</td>
            <td>{l.instruction}</td>
            <td>{l.author?.username ?? 'import'}{href && <> (<a href={href}>{l.mr ? `!${l.mr}` : 'note'}</a>)</>}</td>
            <td><When at={l.createdAt} now={now} /></td>
          </tr>
        );
      })}
    </tbody>
  </table>
);

const Page: FC<View> = ({ mrs, failures, stats, notice, sizes, now, page, hasMore, learnings }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>mr-reviewer status</title>
      <style dangerouslySetInnerHTML={{ __html: CSS }} />
    </head>
    <body>
      <h1>mr-reviewer status</h1>
      {notice && <p id="notice" class="err">{notice}</p>}
      {stats && (
        <p id="queue">
          Queue: {stats.pending} pending, {stats.running} running, {stats.failed} failed
          {stats.pending > 0 && `, oldest waiting ${Math.round(stats.oldestPendingAgeMs / 1000)}s`}.
        </p>
      )}
      {sizes && <SizesLine s={sizes} />}
      <h2>Merge requests</h2>
      {mrs.length === 0 ? <p>{page > 1 ? 'No more merge requests.' : 'No merge requests reviewed yet.'}</p> : mrs.map((v) => <MrCard v={v} now={now} />)}
      {(page > 1 || hasMore) && (
        <nav id="pages">
          {page > 1 && <a rel="prev" href={`?page=${page - 1}`}>← newer</a>}
          <span>page {page}</span>
          {hasMore && <a rel="next" href={`?page=${page + 1}`}>older →</a>}
        </nav>
      )}
      <h2>Team learnings</h2>
      {learnings.length === 0 ? <p id="learnings">None yet.</p> : <div id="learnings">{learnings.map(([pid, items]) => <LearningsTable pid={pid} items={items} now={now} />)}</div>}
      <h2>Recent failures</h2>
      {failures.length === 0 ? (
        <p>None.</p>
      ) : (
        <table id="failures">
          <thead>
            <tr><th>when</th><th>job</th><th>MR</th><th>reason</th></tr>
          </thead>
          <tbody>
            {failures.map((f) => (
              <tr>
                <td><When at={f.at} now={now} /></td>
                <td>{f.kind} <code>{f.jobId}</code></td>
                <td>{f.iid !== undefined ? `${f.projectId ?? ''}!${f.iid}` : '—'}</td>
                <td>{f.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p><small>Generated {now.toISOString()}. Metrics at <a href="metrics">/metrics</a>.</small></p>
    </body>
  </html>
);
