// The GitLab calls the flows need, over @gitbeaker/rest, with short local retries for what can heal.
import { setTimeout as sleep } from 'node:timers/promises';
import { Gitlab } from '@gitbeaker/rest';
import { readMarker } from './markers.js';
import { safeNoteBody } from './note-safety.js';
import { createRequester, GitLabError } from './requester.js';
import type { CommitInfo, DiffPosition, DiscussionInfo, DraftInfo, DraftTarget, FileDiff, IssueInfo, MergeRequestInfo, NoteInfo, ProtectedBranchInfo } from './types.js';

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
  /** the transport (default: Node's fetch, or a proxy's): tests hand in a GitLab that runs in process */
  fetch?: typeof fetch;
}

/** Per post: users the bot mentions on purpose (the bot's own name is always allowed). */
export interface PostOptions {
  mentions?: string[];
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

export class GitLabClient {
  readonly api: Api;
  private readonly o: Required<Omit<GitLabClientOptions, 'onRetry' | 'redact' | 'fetch'>> & Pick<GitLabClientOptions, 'onRetry'>;
  private readonly redact?: (s: string) => string;
  /** the bot itself, once known: its name may be mentioned, its notes can be adopted */
  private self?: { id: number; username: string };

  constructor(opts: GitLabClientOptions) {
    this.o = { timeoutMs: 30_000, attempts: 4, baseDelayMs: 500, maxLocalWaitMs: 60_000, ...opts };
    this.redact = opts.redact;
    this.api = new Gitlab({
      host: opts.url,
      token: opts.token,
      requesterFn: createRequester(this.o.timeoutMs, opts.fetch),
    } as Any) as Api;
  }

  /** The one choke point for every body the bot posts or edits: nothing in it runs, notifies or leaks. */
  private clean(body: string, o: PostOptions = {}): string {
    return safeNoteBody(body, { redact: this.redact, mentions: [...(o.mentions ?? []), ...(this.self ? [this.self.username] : [])] });
  }

  /**
   * Retry transient failures a few times here; then let the queue retry the job later. `adopt`: for a POST that
   * creates a note, GitLab may have saved it and still failed the answer (5xx, timeout, dropped connection): before
   * posting again, look for the note it saved and return that instead.
   */
  private async call<T>(fn: () => Promise<T>, adopt?: () => Promise<T | undefined>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof GitLabError) || !e.transient) throw e;
        if (adopt && (e.status === 0 || e.status >= 500)) {
          const found = await this.call(adopt).catch(() => undefined);
          if (found) return found;
        }
        if (attempt >= this.o.attempts) throw e;
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
    this.self = { id: u.id, username: u.username };
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
      closedAt: m.merged_at ?? m.closed_at ?? undefined,
      draft: !!(m.draft ?? m.work_in_progress),
      sourceBranch: m.source_branch,
      targetBranch: m.target_branch,
      sha: m.sha,
      diffRefs: m.diff_refs ?? null,
      webUrl: m.web_url,
      author: { id: m.author?.id, username: m.author?.username },
      sourceProjectId: m.source_project_id ?? undefined,
      targetProjectId: m.target_project_id ?? undefined,
      allowCollaboration: !!m.allow_collaboration,
    };
  }

  /** The newest commits of a branch (first page only: a bounded look, e.g. for a commit the bot pushed). */
  async commits(pid: number, ref: string, perPage = 100): Promise<CommitInfo[]> {
    const cs: Any[] = await this.call(() => this.api.Commits.all(pid, { refName: ref, perPage, maxPages: 1 } as Any) as Promise<Any>);
    return cs.map((c) => ({ id: c.id, title: c.title ?? '', message: c.message ?? '', webUrl: c.web_url ?? '' }));
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

  /** Issues the MR closes when merged (GitLab's closing patterns in its description and commits). */
  async closesIssues(pid: number, iid: number): Promise<IssueInfo[]> {
    const xs: Any[] = await this.call(() => this.api.MergeRequests.allIssuesClosed(pid, iid, { perPage: 20 } as Any) as Promise<Any>);
    return xs.map(toIssue);
  }

  async issue(pid: number, iid: number): Promise<IssueInfo> {
    return toIssue(await this.call(() => this.api.Issues.show(iid, { projectId: pid }) as Promise<Any>));
  }

  /** The MR's commits, oldest first (GitLab lists them newest first). */
  async mrCommits(pid: number, iid: number): Promise<{ title: string; message: string }[]> {
    const xs: Any[] = await this.call(() => this.api.MergeRequests.allCommits(pid, iid, { perPage: 100, maxPages: 1 } as Any) as Promise<Any>);
    return xs.map((c) => ({ title: String(c.title ?? ''), message: String(c.message ?? c.title ?? '') })).reverse();
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
  async createDiffDiscussion(pid: number, iid: number, body: string, position: DiffPosition, o?: PostOptions): Promise<{ discussionId: string; noteId: number }> {
    const text = this.clean(body, o);
    // Not gitbeaker's `position` option: it flattens it through a query string split on `&`, which cuts a path like
    // `a&b.js` short. The same form fields, built here, go through FormData with raw values (positions take raw paths).
    return this.call(
      async () => firstNote(await this.api.MergeRequestDiscussions.create(pid, iid, text, { ...positionFields(position), isForm: true } as Any)),
      () => this.adoptOnMr(pid, iid, text),
    );
  }

  async createDiscussion(pid: number, iid: number, body: string, o?: PostOptions): Promise<{ discussionId: string; noteId: number }> {
    const text = this.clean(body, o);
    return this.call(async () => firstNote(await this.api.MergeRequestDiscussions.create(pid, iid, text)), () => this.adoptOnMr(pid, iid, text));
  }

  async reply(pid: number, iid: number, did: string, body: string, o?: PostOptions): Promise<{ noteId: number }> {
    const text = this.clean(body, o);
    const n: Any = await this.call(
      () => this.api.MergeRequestDiscussions.addNote(pid, iid, did, text as Any) as Promise<Any>,
      async () => {
        const found = await this.findOwn([await this.discussion(pid, iid, did)], text);
        return found && { id: found.noteId };
      },
    );
    return { noteId: n.id };
  }

  async resolve(pid: number, iid: number, did: string, resolved = true): Promise<void> {
    await this.call(() => this.api.MergeRequestDiscussions.resolve(pid, iid, did, resolved));
  }

  async createNote(pid: number, iid: number, body: string, o?: PostOptions): Promise<{ noteId: number }> {
    const text = this.clean(body, o);
    return this.call(
      async () => ({ noteId: ((await this.api.MergeRequestNotes.create(pid, iid, text)) as Any).id }),
      async () => {
        const found = await this.adoptOnMr(pid, iid, text);
        return found && { noteId: found.noteId };
      },
    );
  }

  async editNote(pid: number, iid: number, noteId: number, body: string, o?: PostOptions): Promise<void> {
    await this.call(() => this.api.MergeRequestNotes.edit(pid, iid, noteId, { body: this.clean(body, o) } as Any));
  }

  /**
   * The bot's own drafts on the MR, or undefined where there is no draft notes API for this token (404: an older
   * GitLab; 403: missing rights): the caller then posts notes directly.
   */
  async drafts(pid: number, iid: number): Promise<DraftInfo[] | undefined> {
    try {
      const ds: Any[] = await this.call(() => this.api.MergeRequestDraftNotes.all(pid, iid, { perPage: 100 } as Any) as Promise<Any>);
      return ds.map(toDraft);
    } catch (e) {
      if (e instanceof GitLabError && (e.status === 404 || e.status === 403)) return undefined;
      throw e;
    }
  }

  /** A draft (seen by nobody but the bot until `publishDrafts`). A retried POST adopts the draft GitLab saved. */
  async createDraft(pid: number, iid: number, body: string, to: DraftTarget = {}, o?: PostOptions): Promise<DraftInfo> {
    const text = this.clean(body, o);
    const fields: Record<string, unknown> = { ...(to.position ? positionFields(to.position) : {}), isForm: true };
    // snake_case as sent: form fields are not decamelised like a JSON body
    if (to.inReplyTo) fields.in_reply_to_discussion_id = to.inReplyTo;
    if (to.resolve) fields.resolve_discussion = 'true';
    return this.call(
      async () => toDraft(await this.api.MergeRequestDraftNotes.create(pid, iid, text, fields as Any)),
      async () => {
        const want = JSON.stringify(readMarker(text) ?? null);
        if (want === 'null') return undefined;
        return (await this.drafts(pid, iid))?.find((d) => JSON.stringify(readMarker(d.body) ?? null) === want);
      },
    );
  }

  /** Deleting a draft that is already gone is fine. */
  async deleteDraft(pid: number, iid: number, draftId: number): Promise<void> {
    try {
      await this.call(() => this.api.MergeRequestDraftNotes.remove(pid, iid, draftId));
    } catch (e) {
      if (!(e instanceof GitLabError) || e.status !== 404) throw e;
    }
  }

  /**
   * Publish every draft of the bot as one review (one email). GitLab deletes the drafts it published, so after a lost
   * answer "no drafts left" means it went through: never published twice.
   */
  async publishDrafts(pid: number, iid: number): Promise<void> {
    await this.call(
      () => this.api.MergeRequestDraftNotes.publishBulk(pid, iid),
      async () => ((await this.drafts(pid, iid))?.length === 0 ? [] : undefined),
    );
  }

  /** The bot's note on the MR that carries the same marker as `body` (see `call`). */
  private async adoptOnMr(pid: number, iid: number, body: string): Promise<{ discussionId: string; noteId: number } | undefined> {
    if (!readMarker(body)) return undefined;
    return this.findOwn(await this.discussions(pid, iid), body);
  }

  /**
   * Markers are unique per post (finding fp, summary, `re` of replies and answers), so the same marker written
   * by the bot means the same post. Without a marker nothing can be told apart: nothing is adopted.
   */
  private async findOwn(ds: DiscussionInfo[], body: string): Promise<{ discussionId: string; noteId: number } | undefined> {
    const want = JSON.stringify(readMarker(body) ?? null);
    if (want === 'null') return undefined;
    const self = this.self ?? (await this.currentUser());
    for (const d of ds) {
      for (const n of d.notes) {
        if (n.author.id === self.id && JSON.stringify(readMarker(n.body) ?? null) === want) return { discussionId: d.id, noteId: n.id };
      }
    }
    return undefined;
  }

  /** The user's role in the project, inherited group roles included (GitLab shows the highest); 0 when not a member. */
  async memberAccessLevel(pid: number, userId: number): Promise<number> {
    try {
      const m: Any = await this.call(() => this.api.ProjectMembers.show(pid, userId, { includeInherited: true }));
      return Number(m.access_level) || 0;
    } catch (e) {
      if (e instanceof GitLabError && e.status === 404) return 0;
      throw e;
    }
  }

  /** Every protection rule of the project (names may be wildcards such as `release/*`). */
  async protectedBranches(pid: number): Promise<ProtectedBranchInfo[]> {
    const bs: Any[] = await this.call(() => this.api.ProtectedBranches.all(pid, { perPage: 100 } as Any) as Promise<Any>);
    return bs.map((b) => ({
      name: b.name,
      push: (b.push_access_levels ?? []).map((r: Any) => ({ accessLevel: r.access_level ?? null, userId: r.user_id ?? null, groupId: r.group_id ?? null })),
    }));
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

function firstNote(d: Any): { discussionId: string; noteId: number } {
  return { discussionId: d.id, noteId: d.notes?.[0]?.id };
}

/** `position[base_sha]`, `position[old_path]`, …: GitLab's form fields for a diff position, values untouched. */
function toIssue(i: Any): IssueInfo {
  return { iid: Number(i.iid), title: String(i.title ?? ''), description: String(i.description ?? '') };
}

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

function toDraft(d: Any): DraftInfo {
  const p = d.position ?? {};
  return { id: d.id, body: d.note ?? '', discussionId: d.discussion_id ?? null, lineCode: d.line_code ?? null, hasPosition: !!(p.new_path || p.old_path) };
}

function toDiscussion(d: Any): DiscussionInfo {
  return { id: d.id, individualNote: !!d.individual_note, notes: (d.notes ?? []).map(toNote) };
}
