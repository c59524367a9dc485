// The GitLab calls the flows need, over @gitbeaker/rest, with short local retries for what can heal.
import { setTimeout as sleep } from 'node:timers/promises';
import { Gitlab } from '@gitbeaker/rest';
import { createRequester, GitLabError } from './requester.js';
import type { DiffPosition, DiscussionInfo, FileDiff, MergeRequestInfo, NoteInfo } from './types.js';

export interface GitLabClientOptions {
  url: string;
  token: string;
  timeoutMs?: number;
  /** local tries per call before the error goes up to the job queue */
  attempts?: number;
  baseDelayMs?: number;
  /** longest Retry-After honoured locally; longer waits go back to the queue */
  maxLocalWaitMs?: number;
  onRetry?: (err: GitLabError, waitMs: number) => void;
  /** applied to every body the bot posts */
  redact?: (s: string) => string;
}

export interface ProjectInfo {
  id: number;
  path: string;
  httpUrl: string;
  webUrl: string;
  defaultBranch: string;
}

type Api = InstanceType<typeof Gitlab<false>>;
 
type Any = any;

const MAX_NOTE = 1_000_000;

export class GitLabClient {
  readonly api: Api;
  private readonly o: Required<Omit<GitLabClientOptions, 'onRetry' | 'redact'>> & Pick<GitLabClientOptions, 'onRetry'>;
  private readonly clean: (s: string) => string;

  constructor(opts: GitLabClientOptions) {
    this.o = { timeoutMs: 30_000, attempts: 4, baseDelayMs: 500, maxLocalWaitMs: 60_000, ...opts };
    const redact = opts.redact ?? ((s: string) => s);
    // GitLab rejects notes over 1,000,000 characters: cut long ones and say so.
    this.clean = (s) => {
      const r = redact(s);
      return r.length <= MAX_NOTE ? r : `${r.slice(0, MAX_NOTE - 200)}\n\n_[… cut: the reply was longer than GitLab allows]_`;
    };
    this.api = new Gitlab({
      host: opts.url,
      token: opts.token,
      requesterFn: createRequester(this.o.timeoutMs),
    } as Any) as Api;
  }

  /** Retry transient failures a few times here; then let the queue retry the job later. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof GitLabError) || !e.transient || attempt >= this.o.attempts) throw e;
        const backoff = this.o.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
        const wait = Math.max(e.retryAfterMs ?? 0, backoff);
        if (wait > this.o.maxLocalWaitMs) throw e;
        this.o.onRetry?.(e, wait);
        await sleep(wait);
      }
    }
  }

  async currentUser(): Promise<{ id: number; username: string; name?: string }> {
    const u = await this.call(() => this.api.Users.showCurrentUser() as Promise<Any>);
    return { id: u.id, username: u.username, name: u.name };
  }

  async project(id: number | string): Promise<ProjectInfo> {
    const p: Any = await this.call(() => this.api.Projects.show(id));
    return {
      id: p.id,
      path: p.path_with_namespace,
      httpUrl: p.http_url_to_repo,
      webUrl: p.web_url,
      defaultBranch: p.default_branch,
    };
  }

  async mergeRequest(pid: number, iid: number): Promise<MergeRequestInfo> {
    const m: Any = await this.call(() => this.api.MergeRequests.show(pid, iid));
    return {
      iid: m.iid,
      projectId: m.project_id,
      title: m.title ?? '',
      description: m.description ?? '',
      state: m.state,
      draft: !!(m.draft ?? m.work_in_progress),
      sourceBranch: m.source_branch,
      targetBranch: m.target_branch,
      sha: m.sha,
      diffRefs: m.diff_refs ?? null,
      webUrl: m.web_url,
      author: { id: m.author?.id, username: m.author?.username },
    };
  }

  async diffs(pid: number, iid: number): Promise<FileDiff[]> {
    const d: Any[] = await this.call(() => this.api.MergeRequests.allDiffs(pid, iid, { perPage: 100 } as Any) as Promise<Any>);
    return d.map((f) => ({
      old_path: f.old_path,
      new_path: f.new_path,
      diff: f.diff ?? '',
      new_file: !!f.new_file,
      renamed_file: !!f.renamed_file,
      deleted_file: !!f.deleted_file,
      too_large: !!f.too_large,
      collapsed: !!f.collapsed,
      generated_file: !!f.generated_file,
    }));
  }

  async discussions(pid: number, iid: number): Promise<DiscussionInfo[]> {
    const ds: Any[] = await this.call(() => this.api.MergeRequestDiscussions.all(pid, iid, { perPage: 100 } as Any) as Promise<Any>);
    return ds.map(toDiscussion);
  }

  async discussion(pid: number, iid: number, did: string): Promise<DiscussionInfo> {
    const d = await this.call(() => this.api.MergeRequestDiscussions.show(pid, iid, did) as Promise<Any>);
    return toDiscussion(d);
  }

  /** A thread on a diff line. Throws GitLabError 400 when GitLab cannot place the position. */
  async createDiffDiscussion(pid: number, iid: number, body: string, position: DiffPosition): Promise<{ discussionId: string; noteId: number }> {
    // Not gitbeaker's `position` option: it flattens it through a query string split on `&`, which cuts a path like
    // `a&b.js` short. The same form fields, built here, go through FormData with raw values (positions take raw paths).
    const d: Any = await this.call(() =>
      this.api.MergeRequestDiscussions.create(pid, iid, this.clean(body), { ...positionFields(position), isForm: true } as Any),
    );
    return { discussionId: d.id, noteId: d.notes?.[0]?.id };
  }

  async createDiscussion(pid: number, iid: number, body: string): Promise<{ discussionId: string; noteId: number }> {
    const d: Any = await this.call(() => this.api.MergeRequestDiscussions.create(pid, iid, this.clean(body)));
    return { discussionId: d.id, noteId: d.notes?.[0]?.id };
  }

  async reply(pid: number, iid: number, did: string, body: string): Promise<{ noteId: number }> {
    const n: Any = await this.call(() => this.api.MergeRequestDiscussions.addNote(pid, iid, did, this.clean(body) as Any));
    return { noteId: n.id };
  }

  async editDiscussionNote(pid: number, iid: number, did: string, noteId: number, body: string): Promise<void> {
    await this.call(() => this.api.MergeRequestDiscussions.editNote(pid, iid, did, noteId, { body: this.clean(body) } as Any));
  }

  async resolve(pid: number, iid: number, did: string, resolved = true): Promise<void> {
    await this.call(() => this.api.MergeRequestDiscussions.resolve(pid, iid, did, resolved));
  }

  async createNote(pid: number, iid: number, body: string): Promise<{ noteId: number }> {
    const n: Any = await this.call(() => this.api.MergeRequestNotes.create(pid, iid, this.clean(body)));
    return { noteId: n.id };
  }

  async editNote(pid: number, iid: number, noteId: number, body: string): Promise<void> {
    await this.call(() => this.api.MergeRequestNotes.edit(pid, iid, noteId, { body: this.clean(body) } as Any));
  }

  /** 👀 on a note; awarding twice is harmless (GitLab answers 404/409, ignored). */
  async award(pid: number, iid: number, noteId: number, name = 'eyes'): Promise<void> {
    try {
      await this.call(() => this.api.MergeRequestNoteAwardEmojis.award(pid, iid, noteId, name));
    } catch (e) {
      if (!(e instanceof GitLabError) || e.transient) throw e;
    }
  }
}

/** `position[base_sha]`, `position[old_path]`, …: GitLab's form fields for a diff position, values untouched. */
export function positionFields(p: DiffPosition): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined || v === null) continue;
    out[`position[${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}]`] = String(v);
  }
  return out;
}

function toNote(n: Any): NoteInfo {
  return {
    id: n.id,
    body: n.body ?? '',
    author: { id: n.author?.id, username: n.author?.username },
    system: !!n.system,
    createdAt: n.created_at,
    resolvable: n.resolvable,
    resolved: n.resolved,
    type: n.type ?? null,
    position: n.position ?? null,
  };
}

function toDiscussion(d: Any): DiscussionInfo {
  return { id: d.id, individualNote: !!d.individual_note, notes: (d.notes ?? []).map(toNote) };
}
