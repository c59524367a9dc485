// `mr-reviewer setup-webhook --project <path|id> --url <public url>`: create the project's webhook, or update the
// one already pointing at that URL (so running it twice changes nothing), with the events the bot needs.
import { GitLabClient } from '../gitlab/client.js';
import { GitLabError } from '../gitlab/requester.js';
import { configOrExit } from './config.js';

export interface WebhookSetup {
  project: string | number;
  url: string;
  /** the hook's secret token; without it (a signing-key-only bot) the hook's signing token is set in GitLab's UI */
  secret?: string;
}

/**
 * Only what the bot handles: MR events (open, push, ready), comments, and comments on confidential items (GitLab
 * sends those only to hooks with `confidential_note_events`). Pushes without an MR are noise.
 */
const EVENTS = {
  mergeRequestsEvents: true, noteEvents: true, confidentialNoteEvents: true,
  pushEvents: false, issuesEvents: false, confidentialIssuesEvents: false, tagPushEvents: false, pipelineEvents: false, jobEvents: false,
};

/** The events turned on, in GitLab's settings words. */
export const EVENTS_ON = ['merge request events', 'comments', 'confidential comments'] as const;

const same = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

export async function setupWebhook(gitlab: GitLabClient, s: WebhookSetup): Promise<{ action: 'created' | 'updated'; id: number }> {
  const hooks = (await gitlab.api.ProjectHooks.all(s.project)) as { id: number; url: string }[];
  const existing = hooks.find((h) => same(h.url, s.url));
  const options = { ...EVENTS, ...(s.secret ? { token: s.secret } : {}), enableSslVerification: s.url.startsWith('https:') };
  if (existing) {
    await gitlab.api.ProjectHooks.edit(s.project, existing.id, s.url, options);
    return { action: 'updated', id: existing.id };
  }
  const h = (await gitlab.api.ProjectHooks.add(s.project, s.url, options)) as { id: number };
  return { action: 'created', id: h.id };
}

export async function setupWebhookCommand(o: { project: string; url: string }): Promise<number> {
  const config = configOrExit();
  const project = /^\d+$/.test(o.project) ? Number(o.project) : o.project;
  try {
    new URL(o.url);
  } catch {
    console.error(`--url must be an absolute URL, e.g. https://reviewer.example.com/webhooks/gitlab (got ${o.url})`);
    return 2;
  }
  if (!/\/webhooks\/gitlab\/?$/.test(new URL(o.url).pathname)) console.warn(`note: the bot listens on /webhooks/gitlab; ${o.url} does not end with it`);
  const gitlab = new GitLabClient({ url: config.GITLAB_URL, token: config.GITLAB_TOKEN });
  try {
    const r = await setupWebhook(gitlab, { project, url: o.url, secret: config.GITLAB_WEBHOOK_SECRET });
    const auth = config.GITLAB_WEBHOOK_SECRET ? 'secret token set' : 'no secret token: the hook\'s signing token must be GITLAB_WEBHOOK_SIGNING_KEY';
    console.log(`${r.action} webhook #${r.id} on ${o.project} → ${o.url} (${auth})\nevents on: ${EVENTS_ON.join(', ')}; everything else off`);
    return 0;
  } catch (e) {
    if (e instanceof GitLabError && e.status === 403) console.error(`GitLab answered 403: the token's user needs the Maintainer role on ${o.project} to manage webhooks.`);
    else if (e instanceof GitLabError && e.status === 404) console.error(`GitLab answered 404: no project ${o.project} visible to the token's user.`);
    else console.error(`setup-webhook failed: ${(e as Error).message}`);
    return 1;
  }
}
