/**
 * Issues and what an MR says about them: GET /projects/:id/issues/:iid, GET …/merge_requests/:iid/closes_issues
 * (GitLab's default closing pattern over the MR's description and commit messages, only issues that exist), and
 * GET …/merge_requests/:iid/commits (the latest version's commits, newest first, API::Entities::Commit).
 */
import { HttpError } from './body.js';
import { git, computeOnce } from './git.js';
import type { MrRec, ProjectRec, World } from './model.js';

export interface IssueRec {
  id: number; iid: number; title: string; description: string; state: 'opened' | 'closed'; authorId: number; createdAt: string; updatedAt: string;
}

const issuesOf = new WeakMap<ProjectRec, Map<number, IssueRec>>();
let nextIssueId = 9000;

export function projectIssues(p: ProjectRec): Map<number, IssueRec> {
  let m = issuesOf.get(p);
  if (!m) issuesOf.set(p, (m = new Map()));
  return m;
}

export function createIssue(p: ProjectRec, o: { title: string; description?: string; authorId?: number }): IssueRec {
  const issues = projectIssues(p);
  const now = new Date().toISOString();
  const rec: IssueRec = { id: nextIssueId++, iid: issues.size + 1, title: o.title, description: o.description ?? '', state: 'opened', authorId: o.authorId ?? 2, createdAt: now, updatedAt: now };
  issues.set(rec.iid, rec);
  return rec;
}

export function issue(p: ProjectRec, iid: string | number): IssueRec {
  const i = projectIssues(p).get(Number(iid));
  if (!i) throw new HttpError(404, { message: '404 Issue Not Found' });
  return i;
}

/** GitLab's default `issue_closing_pattern` (gitlab.yml), for local `#N` references. */
const CLOSING = /\b(?:[Cc]los(?:e[sd]?|ing)|[Ff]ix(?:e[sd]|ing)?|[Rr]esolv(?:e[sd]?|ing)|[Ii]mplement(?:s|ed|ing)?):? +(?:[Ii]ssues? +)?((?:#\d+(?: *,? +and +| *,? *)?)+)/g;

export function closingRefs(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(CLOSING)) for (const r of m[1]!.matchAll(/#(\d+)/g)) out.push(Number(r[1]));
  return [...new Set(out)];
}

export function issueJson(w: World, p: ProjectRec, i: IssueRec) {
  const web = `${w.url}/${p.path}/-/issues/${i.iid}`;
  return {
    id: i.id, iid: i.iid, project_id: p.id, title: i.title, description: i.description, state: i.state,
    created_at: i.createdAt, updated_at: i.updatedAt, closed_at: null, closed_by: null, labels: [], milestone: null,
    assignees: [], author: w.userBasic(i.authorId), type: 'ISSUE', assignee: null, user_notes_count: 0, merge_requests_count: 0,
    upvotes: 0, downvotes: 0, due_date: null, confidential: false, discussion_locked: null, issue_type: 'issue', web_url: web,
    time_stats: { time_estimate: 0, total_time_spent: 0, human_time_estimate: null, human_total_time_spent: null },
    task_completion_status: { count: 0, completed_count: 0 }, has_tasks: false,
    _links: { self: `${w.url}/api/v4/projects/${p.id}/issues/${i.iid}`, notes: `${w.url}/api/v4/projects/${p.id}/issues/${i.iid}/notes`, award_emoji: `${w.url}/api/v4/projects/${p.id}/issues/${i.iid}/award_emoji`, project: `${w.url}/api/v4/projects/${p.id}`, closed_as_duplicate_of: null },
    references: { short: `#${i.iid}`, relative: `#${i.iid}`, full: `${p.path}#${i.iid}` },
    severity: 'UNKNOWN', moved_to_id: null, service_desk_reply_to: null,
  };
}

/** The latest version's commits, newest first, in API::Entities::Commit's shape. */
export async function mrCommitsJson(w: World, mr: MrRec) {
  const v = w.latest(mr);
  const range = `${v.baseSha}..${v.headSha}`;
  const out = await computeOnce(['log', mr.project.gitDir, range], () => git(mr.project.gitDir, ['log', '--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x1e', range]));
  return out.split('\x1e').map((r) => r.replace(/^\n/, '')).filter(Boolean).map((r) => {
    const [id, parents, an, ae, ad, cn, ce, cd, message] = r.split('\x00') as string[];
    return {
      id, short_id: id!.slice(0, 8), created_at: cd, parent_ids: parents ? parents.split(' ') : [], title: message!.split('\n')[0], message,
      author_name: an, author_email: ae, authored_date: ad, committer_name: cn, committer_email: ce, committed_date: cd,
      trailers: {}, extended_trailers: {}, web_url: `${w.url}/${mr.project.path}/-/commit/${id}`,
    };
  });
}

/** Issues the MR would close: closing references in its description and its commits' messages, that exist. */
export async function closesIssues(w: World, mr: MrRec) {
  const commits = await mrCommitsJson(w, mr);
  const refs = closingRefs([mr.description, ...commits.map((c) => c.message ?? '')].join('\n'));
  const issues = projectIssues(mr.project);
  return refs.map((n) => issues.get(n)).filter((i) => i !== undefined).map((i) => issueJson(w, mr.project, i));
}
