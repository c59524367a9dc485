// `@bot fix` and `@bot apply`: a thread's own fork plans a fix (read-only), and on approval by someone who may push
// to the source branch, the same fork makes it in a fresh checkout; the bot commits it once and pushes it.
// Security rules: docs/security.md "Apply".
import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import type { ClaudeResult } from '../claude/result.js';
import type { ThreadStart } from '../claude/session-service.js';
import type { NoteAdded, UserRef } from '../events/types.js';
import { withMarker } from '../gitlab/markers.js';
import type { DiscussionInfo, MergeRequestInfo, NoteInfo } from '../gitlab/types.js';
import { fence, systemPrompt } from '../review/prompts.js';
import { APPLY_SCHEMA, applyOutputSchema, parseTurn, PLAN_SCHEMA, planOutputSchema } from '../review/outputs.js';
import { REPO_CONFIG_PATH, type RepoConfig } from '../review/repo-config.js';
import { type ApplyAudit, type FixPlan, type ThreadRecord } from '../store/records.js';
import { commitMessage, commitStaged, diffStat, findApplied, noreplyEmail, pushCommit, stageAll, stagedLines, type StagedChange } from '../workspace/commit.js';
import { loadGuidance } from './context.js';
import type { Deps } from './deps.js';

/** Never edited by an apply, whatever the plan or the repo config says. */
export const ALWAYS_DENIED = ['.gitlab-ci.yml', REPO_CONFIG_PATH];
/** An apply that started this long ago and never finished is taken to have died (its job is being retried). */
const STALE_APPLY_MS = 30 * 60_000;

type Say = (text: string, extra?: Record<string, unknown>) => Promise<unknown>;

function sayer(d: Deps, ev: NoteAdded, command: 'fix' | 'apply'): Say {
  return (text, extra = {}) => d.gitlab.reply(ev.project.id, ev.iid, ev.discussionId, withMarker(text, { kind: 'reply', command, re: ev.noteId, ...extra }));
}

function isBotOrDiffThread(d: Deps, disc: DiscussionInfo): boolean {
  const first = disc.notes[0];
  return !!first && (first.author.id === d.bot.id || !!first.position);
}

function render(n: NoteInfo, botId: number): string {
  return `[note ${n.id}] ${n.author.id === botId ? 'you (mr-reviewer)' : `@${n.author.username}`}:\n${n.body.trim()}`;
}

export function planPrompt(i: { iid: number; sha: string; note: NoteInfo; thread?: NoteInfo[]; botId: number; moved?: boolean }): string {
  const parts = [`@${i.note.author.username} asks you to plan a fix for the problem discussed in this thread of merge request !${i.iid} ([note ${i.note.id}]).`];
  if (i.moved) parts.push('The source branch moved since your last plan: plan again against the new head.');
  if (i.thread?.length) parts.push(`The thread:\n${fence('thread_notes', i.thread.map((n) => render(n, i.botId)).join('\n\n'))}`);
  parts.push(
    `The branch head is ${i.sha}. Read the code as it is now. You cannot and must not change files in this turn: only plan.`,
    `Plan the smallest change that fixes it. Only files inside the repository; never ${ALWAYS_DENIED.join(' or ')}.`,
    'Return through the StructuredOutput tool: fixable (false if there is nothing to fix or no safe fix), summary (at most 5 sentences), ' +
      'files (each: path relative to the repository root, lines such as "6-7", change: what changes there), diff_preview (a short unified diff).',
  );
  return parts.join('\n\n');
}

export function applyPrompt(i: { checkout: string; plan: FixPlan; approver: string }): string {
  return [
    `@${i.approver} approved your plan. Make exactly that change now, with the Edit or Write tool, in the checkout at ${i.checkout} (the branch at ${i.plan.sha}).`,
    `Edit only these files, by their absolute paths under that checkout: ${i.plan.files.map((f) => `${i.checkout}/${f.path}`).join(', ')}.`,
    'Do not touch anything else; there is no shell. Read a file before you edit it.',
    'When done, return through the StructuredOutput tool: fixed (true if the finding is fixed), summary (one or two sentences for the commit and the thread), commit_title (at most 72 characters).',
  ].join('\n');
}

/** `@bot fix`: the thread's fork (made now if the thread has none) plans, read-only; the plan is kept on the thread. */
export async function planFix(d: Deps, ev: NoteAdded, author: UserRef, opts: { moved?: boolean } = {}): Promise<'planned' | 'refused'> {
  const say = sayer(d, ev, 'fix');
  const { project, iid } = ev;
  const [mr, disc] = await Promise.all([d.gitlab.mergeRequest(project.id, iid), d.gitlab.discussion(project.id, iid, ev.discussionId)]);
  if (mr.state !== 'opened') return refuse(say, `This MR is ${mr.state}; there is nothing to fix.`, 'state');
  if (!isBotOrDiffThread(d, disc)) return refuse(say, `\`@${d.bot.username} fix\` works in a thread on the diff or in one of my review threads.`, 'thread');
  const mrRef = { project, iid, sha: mr.sha, targetBranch: mr.targetBranch };
  if (!(await d.sessions.hasTrunk(mrRef))) return refuse(say, `I have not reviewed this MR yet: \`@${d.bot.username} review\` first, then ask again.`, 'no_trunk');
  // The plan reads the code at GitLab's head: a push since the review moves the MR's checkout there first.
  const cwd = mr.sha !== (await d.store.getMr(project.id, iid))?.reviewedSha ? await d.workspaces.prepare(project, iid, mr.sha, mr.targetBranch) : undefined;
  const { repoConfig, guidance } = await loadGuidance(d, project, iid, mr.targetBranch);
  const note = disc.notes.find((n) => n.id === ev.noteId) ?? disc.notes.at(-1)!;
  const thread = disc.notes.filter((n) => !n.system && n.id !== note.id);
  const turn = { systemPrompt: systemPrompt(guidance), jsonSchema: PLAN_SCHEMA, maxBudgetUsd: repoConfig.threadBudgetUsd, purpose: 'fix_plan' };
  // A resumed fork knows the thread; a new or rebuilt one is told it.
  const prompt = (start: ThreadStart) => planPrompt({ iid, sha: mr.sha, note, thread: start === 'resume' ? undefined : thread, botId: d.bot.id, moved: opts.moved });
  let plan: FixPlan | undefined;
  const toPlan = (r: ClaudeResult): FixPlan => {
    const out = parseTurn(planOutputSchema, r.structured, 'plan');
    return {
      noteId: ev.noteId, sha: mr.sha, files: out.fixable ? out.files.map((f) => ({ ...f, path: normalPath(f.path) })) : [],
      summary: out.summary, preview: out.diff_preview, at: new Date().toISOString(),
    };
  };
  // The plan is kept on the thread in the same write that ends the turn (its cost counts in the MR's total there).
  const result = await d.sessions.continueThread({ ...mrRef, cwd, discussionId: ev.discussionId, seed: { url: `${mr.webUrl}#note_${ev.noteId}` } }, prompt, turn, (t, r) => {
    t.plan = plan = toPlan(r);
  });
  plan ??= toPlan(result); // the thread was forgotten during the turn: show the plan all the same
  d.log.info({ sessionId: result.sessionId, sha: mr.sha, files: plan.files.length, costUsd: result.costUsd }, 'fix planned');
  await say(planText(d.bot.username, plan, mr.sourceBranch), { plan: plan.sha.slice(0, 12) });
  return 'planned';
}

function planText(bot: string, p: FixPlan, branch: string): string {
  if (!p.files.length) return `🔍 No change planned for \`${p.sha.slice(0, 12)}\`: ${p.summary}`;
  const files = p.files.map((f) => `- \`${f.path}\`${f.lines ? ` (lines ${f.lines})` : ''}: ${f.change}`).join('\n');
  const preview = p.preview.trim() ? `\n\n${codeBlock(p.preview.slice(0, 3000), 'diff')}` : '';
  return `📝 **Plan** for \`${p.sha.slice(0, 12)}\` (nothing is changed yet): ${p.summary}\n\n${files}${preview}\n\n` +
    `\`@${bot} apply\` commits it to \`${branch}\`; it needs push rights to that branch.`;
}

/** A fenced block that no backtick run inside the text can close. */
function codeBlock(text: string, lang = ''): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${text.replace(/\n+$/, '')}\n${f}`;
}

/** `a/./b`, `/b`, `./b` → a repository-relative path; `..` stays in and is refused by the checks. */
export function normalPath(p: string): string {
  return p.replace(/\\/g, '/').split('/').filter((s) => s && s !== '.').join('/');
}

/**
 * Why a staged change may not be committed, or undefined. Plan files only; never CI config, the bot's repo config or
 * a deny-listed glob; nothing outside the checkout (an absolute or `..` path cannot be staged, but a plan may name one).
 */
export function editRefusal(changes: StagedChange[], plan: FixPlan, cfg: RepoConfig['apply']): string | undefined {
  const planned = new Set(plan.files.map((f) => normalPath(f.path)));
  const denied = picomatch([...ALWAYS_DENIED, ...cfg.deny], { dot: true });
  for (const c of changes) {
    if (c.path.split('/').includes('..')) return `\`${c.path}\` is outside the checkout`;
    if (denied(c.path)) return `\`${c.path}\` may not be changed by the bot (CI config, \`${REPO_CONFIG_PATH}\` or the repo's \`apply.deny\` list)`;
    if (!planned.has(c.path)) return `\`${c.path}\` is not one of the planned files`;
  }
  return undefined;
}

/** Plan files that are refused before anything runs. */
export function planRefusal(plan: FixPlan, cfg: RepoConfig['apply']): string | undefined {
  return editRefusal(plan.files.map((f) => ({ status: 'M', path: f.path })), plan, cfg)
    ?? plan.files.map((f) => f.path).filter((p) => p.startsWith('/') || p.split('/').includes('..')).map((p) => `\`${p}\` is outside the checkout`)[0];
}

function applyIdOf(ev: NoteAdded): string {
  return createHash('sha256').update(`${ev.project.id}:${ev.iid}:${ev.discussionId}:${ev.noteId}`).digest('hex').slice(0, 16);
}

/**
 * `@bot apply`: the approver needs push rights to the source branch (Access.canPush: role and protected branches).
 * Exactly once: the commit carries the apply's id as a trailer, and a retried job finds it on the branch first.
 */
export async function applyFix(d: Deps, ev: NoteAdded, author: UserRef): Promise<string> {
  const say = sayer(d, ev, 'apply');
  const { project, iid } = ev;
  const log = d.log.child({ discussion: ev.discussionId, note: ev.noteId });
  const mr = await d.gitlab.mergeRequest(project.id, iid);
  const fork = mr.sourceProjectId !== undefined && mr.sourceProjectId !== (mr.targetProjectId ?? project.id);
  const pushPid = fork ? mr.sourceProjectId! : project.id;
  const audit = (outcome: ApplyAudit['outcome'], extra: Partial<ApplyAudit> = {}) => recordAudit(d, ev, author, outcome, extra);

  if (mr.state !== 'opened') return refuse(say, `This MR is ${mr.state}; nothing was applied.`, 'state');
  const { repoConfig, guidance } = await loadGuidance(d, project, iid, mr.targetBranch);
  if (fork && !(mr.allowCollaboration && repoConfig.apply.forks)) {
    await audit('refused', { detail: 'fork MR' });
    return refuse(say, `This MR comes from a fork: I apply fixes there only when the fork allows commits from maintainers and \`${REPO_CONFIG_PATH}\` sets \`apply.forks: true\`. Nothing was changed.`, 'fork');
  }
  // A fork's branch: its own members, or (collaboration) those who may push to the target branch.
  const mayPush = (await d.access.canPush(pushPid, author.id, mr.sourceBranch)) ||
    (fork && (await d.access.canPush(project.id, author.id, mr.targetBranch)));
  if (!mayPush) {
    await audit('refused', { detail: 'no push rights' });
    return refuse(say, `Sorry, \`@${d.bot.username} apply\` needs push rights to \`${mr.sourceBranch}\` (Developer or higher, and not blocked by a protected-branch rule). Nothing was changed.`, 'access');
  }
  const thread = await d.store.getThread(project.id, iid, ev.discussionId);
  const plan = thread?.plan;
  if (!thread || !plan) return refuse(say, `There is no plan in this thread yet: \`@${d.bot.username} fix\` first.`, 'no_plan');
  if (!plan.files.length) return refuse(say, `My last plan here changes nothing, so there is nothing to apply.`, 'empty_plan');

  const applyId = applyIdOf(ev);
  // A retried job: the commit may be on the branch already (pushed, then the job died before replying).
  const done = findApplied(await d.gitlab.commits(pushPid, mr.sourceBranch), applyId);
  if (done) return finish(d, ev, author, say, { sha: done.id, url: done.webUrl, stat: '', fixed: true, summary: done.title }, log);

  // One apply per thread at a time (a retry of this same note may take over its own stale claim).
  let busy = false;
  await d.store.updateThread(project.id, iid, ev.discussionId, (t) => {
    const a = t.apply;
    busy = !!a && a.status === 'running' && a.noteId !== ev.noteId && Date.now() - Date.parse(a.startedAt) < STALE_APPLY_MS;
    if (!busy) t.apply = { noteId: ev.noteId, status: 'running', startedAt: new Date().toISOString() };
  });
  if (busy) return refuse(say, 'An apply is already running in this thread; wait for its result.', 'busy');
  const release = () => d.store.updateThread(project.id, iid, ev.discussionId, (t) => {
    if (t.apply?.noteId === ev.noteId) t.apply.status = 'done';
  });
  try {
    if (mr.sha !== plan.sha) {
      log.info({ planned: plan.sha, head: mr.sha }, 'branch moved since the plan; planning again');
      await audit('replanned', { detail: `branch moved to ${mr.sha.slice(0, 12)}` });
      await say(`↻ \`${mr.sourceBranch}\` moved since my plan (\`${plan.sha.slice(0, 12)}\` → \`${mr.sha.slice(0, 12)}\`), so nothing was applied. Planning again; check the new plan, then \`@${d.bot.username} apply\`.`, { refused: 'moved' });
      await planFix(d, { ...ev }, author, { moved: true });
      return 'replanned';
    }
    const early = planRefusal(plan, repoConfig.apply);
    if (early) {
      await audit('refused', { detail: early });
      return refuse(say, `I will not apply this plan: ${early}. Nothing was changed.`, 'path');
    }
    return await commitFix(d, ev, author, { mr, plan, thread, repoConfig, guidance, pushPid, applyId, say, log, audit });
  } finally {
    await release();
  }
}

interface ApplyCtx {
  mr: MergeRequestInfo;
  plan: FixPlan;
  thread: ThreadRecord;
  repoConfig: RepoConfig;
  guidance: Parameters<typeof systemPrompt>[0];
  pushPid: number;
  applyId: string;
  say: Say;
  log: Deps['log'];
  audit: (outcome: ApplyAudit['outcome'], extra?: Partial<ApplyAudit>) => Promise<void>;
}

async function commitFix(d: Deps, ev: NoteAdded, author: UserRef, c: ApplyCtx): Promise<string> {
  const { project, iid } = ev;
  const checkout = await d.workspaces.freshCheckout(project, iid, c.plan.sha, c.mr.targetBranch);
  try {
    const result = await d.sessions.applyInThread({ project, iid, sha: c.mr.sha, targetBranch: c.mr.targetBranch, discussionId: ev.discussionId }, checkout,
      applyPrompt({ checkout, plan: c.plan, approver: author.username }),
      { systemPrompt: systemPrompt(c.guidance), jsonSchema: APPLY_SCHEMA, maxBudgetUsd: c.repoConfig.threadBudgetUsd });
    if (!result) return refuse(c.say, `This thread's session is gone, so I cannot apply its plan: \`@${d.bot.username} fix\` to plan again.`, 'no_session');
    await d.store.updateThread(project.id, iid, ev.discussionId, (t) => {
      t.turns += result.numTurns;
      t.costUsd += result.costUsd;
    });
    const out = parseTurn(applyOutputSchema, result.structured, 'apply');
    const outside = result.permissionDenials.find((p) => ['Edit', 'Write'].includes(p.tool_name));
    const changes = await stageAll(d.workspaces, checkout);
    const why = outside ? 'an edit outside the checkout was attempted (and denied)' : editRefusal(changes, c.plan, c.repoConfig.apply);
    if (why) {
      await c.audit('refused', { detail: why });
      return refuse(c.say, `I did not commit this fix: ${why}. Nothing was pushed.`, 'path');
    }
    if (!changes.length) {
      await c.audit('refused', { detail: 'no change' });
      return refuse(c.say, `I made no change, so nothing was committed: ${out.summary}`, 'no_change');
    }
    const lines = await stagedLines(d.workspaces, checkout);
    if (lines > c.repoConfig.apply.maxDiffLines) {
      await c.audit('refused', { detail: `${lines} lines` });
      return refuse(c.say, `The change is ${lines} lines, over this project's limit of ${c.repoConfig.apply.maxDiffLines} (\`apply.max_diff_lines\`). Nothing was committed.`, 'size');
    }
    const host = d.config.GITLAB_URL;
    const message = commitMessage({
      title: out.commit_title, body: out.summary, threadUrl: `${c.mr.webUrl}#note_${ev.noteId}`, applyId: c.applyId,
      approver: { name: author.username, email: noreplyEmail(host, author) },
    });
    const sha = await commitStaged(d.workspaces, checkout, { name: d.bot.username, email: noreplyEmail(host, d.bot) }, message);
    const stat = await diffStat(d.workspaces, checkout, sha);
    const pushed = await pushCommit(d.workspaces, checkout, await d.workspaces.remoteUrl(c.pushPid), sha, c.mr.sourceBranch);
    if (!pushed.pushed) {
      // Never retried blindly: GitLab said no (protected branch, a hook, or the branch moved under us).
      c.log.warn({ rejected: pushed.rejected }, 'apply push rejected');
      await c.audit('rejected', { detail: pushed.rejected.slice(0, 300) });
      return refuse(c.say, `GitLab rejected the push to \`${c.mr.sourceBranch}\`, so nothing was applied:\n\n${codeBlock(pushed.rejected.slice(0, 1500))}`, 'push');
    }
    const webUrl = (await d.gitlab.project(c.pushPid)).webUrl;
    return await finish(d, ev, author, c.say, { sha, url: `${webUrl}/-/commit/${sha}`, stat, fixed: out.fixed, summary: out.summary }, c.log);
  } finally {
    await d.workspaces.removeCheckout(project.id, checkout).catch(() => undefined);
  }
}

async function finish(d: Deps, ev: NoteAdded, author: UserRef, say: Say, r: { sha: string; url: string; stat: string; fixed: boolean; summary: string }, log: Deps['log']): Promise<string> {
  await recordAudit(d, ev, author, 'committed', { commit: r.sha });
  const stat = r.stat ? `\n\n${codeBlock(r.stat)}` : '';
  await say(`✅ Applied in [\`${r.sha.slice(0, 12)}\`](${r.url}), approved by @${author.username}: ${r.summary}${stat}`, { commit: r.sha.slice(0, 12) });
  if (r.fixed) await d.gitlab.resolve(ev.project.id, ev.iid, ev.discussionId, true).catch((e) => log.warn({ err: (e as Error).message }, 'could not resolve thread'));
  log.info({ commit: r.sha, approver: author.username }, 'fix applied');
  return 'applied';
}

async function recordAudit(d: Deps, ev: NoteAdded, author: UserRef, outcome: ApplyAudit['outcome'], extra: Partial<ApplyAudit>): Promise<void> {
  await d.store.updateMr(ev.project.id, ev.iid, ev.project.path, (r) => {
    const list = (r.applies ?? []).filter((a) => !(a.noteId === ev.noteId && a.outcome === outcome));
    list.push({ discussionId: ev.discussionId, noteId: ev.noteId, approver: author.username, outcome, at: new Date().toISOString(), ...extra });
    r.applies = list.slice(-50);
  });
}

async function refuse(say: Say, text: string, why: string): Promise<'refused'> {
  await say(text, { refused: why });
  return 'refused';
}
