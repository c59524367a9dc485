// Webhook → domain event: validates a GitLab webhook (X-Gitlab-Event header + parsed JSON body)
// and turns it into a BotEvent, an ignore reason, or a PayloadError (the intake acknowledges it and drops it).

import type { z } from 'zod';
import type { BotIdentity } from '../gitlab/identity.js';
import { mergeRequestHookSchema, noteHookSchema, type MergeRequestHook, type NoteHook } from './schemas.js';
import type {
  BotEvent,
  Classified,
  CodePushed,
  MrState,
  NoteAdded,
  ProjectRef,
  ReviewRequested,
  UserRef,
} from './types.js';

/** A payload the bot cannot read (logged and dropped with an empty 200: GitLab never redelivers); `message` is a single line. */
export class PayloadError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'PayloadError';
  }
}

export const HANDLED_EVENTS: readonly string[] = Object.freeze([
  'Merge Request Hook',
  'Note Hook',
  'Confidential Note Hook',
]);

/**
 * Every X-Gitlab-Event value GitLab sends. The header is `hook_name.singularize.titleize`
 * (WebHookService.hook_to_event) over TriggerableHooks::AVAILABLE_TRIGGERS, and "System Hook"
 * for system hooks.
 */
export const KNOWN_EVENTS: readonly string[] = Object.freeze([
  ...HANDLED_EVENTS,
  'Push Hook',
  'Tag Push Hook',
  'Issue Hook',
  'Confidential Issue Hook',
  'Job Hook',
  'Pipeline Hook',
  'Wiki Page Hook',
  'Deployment Hook',
  'Feature Flag Hook',
  'Release Hook',
  'Milestone Hook',
  'Emoji Hook',
  'Resource Access Token Hook',
  'Vulnerability Hook',
  'Member Hook',
  'Subgroup Hook',
  'Project Hook',
  'System Hook',
]);

const MR_STATES: readonly MrState[] = ['opened', 'closed', 'merged', 'locked'];

/**
 * `bot` undefined: the bot's identity is not known yet (GitLab unreachable at start-up). The delivery is still taken;
 * the two checks that need it (its own notes, notes on closed MRs that do not mention it) are left to the reply flow,
 * which makes them again with the note as the API has it.
 */
export function classify(eventHeader: string | undefined, payload: unknown, bot: BotIdentity | undefined): Classified {
  const event = eventHeader?.trim();
  if (!event) throw new PayloadError('unknown event: missing X-Gitlab-Event header');
  if (!KNOWN_EVENTS.includes(event)) throw new PayloadError(`unknown event: ${quote(event)}`);
  if (!HANDLED_EVENTS.includes(event)) return { ignore: `unsupported event: ${event}` };

  if (event === 'Merge Request Hook') {
    return classifyMergeRequest(parse(event, mergeRequestHookSchema, payload));
  }
  return classifyNote(parse(event, noteHookSchema, payload), bot);
}

// ---------------------------------------------------------------------------------------------
// Merge Request Hook

function classifyMergeRequest(p: MergeRequestHook): Classified {
  const a = p.object_attributes;
  if (a.state !== 'opened') return { ignore: `mr ${short(a.state)}` };

  const changes = p.changes ?? {};
  let event: BotEvent | null = null;
  switch (a.action) {
    case 'open':
    case 'reopen':
      event = review(p, a.action);
      break;
    case 'update':
      if (becameReady(p)) event = review(p, 'ready');
      else if (a.oldrev) event = { ...mrBase(p), kind: 'push', oldrev: a.oldrev } satisfies CodePushed;
      else {
        const keys = Object.keys(changes).filter((k) => k !== 'updated_at' && k !== 'updated_by_id');
        return { ignore: `mr update without new commits${keys.length ? ` (${short(keys.join(', '))})` : ''}` };
      }
      break;
    default:
      return { ignore: `mr action ${short(a.action)}` };
  }
  if (!event.headSha) return { ignore: 'mr has no head commit' };
  return { event };
}

function review(p: MergeRequestHook, reason: ReviewRequested['reason']): ReviewRequested {
  return { ...mrBase(p), kind: 'review', reason };
}

function mrBase(p: MergeRequestHook) {
  const a = p.object_attributes;
  return {
    project: projectRef(p.project),
    iid: a.iid,
    title: a.title,
    headSha: a.last_commit?.id ?? '',
    sourceBranch: a.source_branch,
    targetBranch: a.target_branch,
    draft: Boolean(a.draft ?? a.work_in_progress ?? false),
    state: 'opened' as const,
    actor: userRef(p.user),
  };
}

/** GitLab's draft title prefixes (MergeRequest::DRAFT_REGEX, plus the pre-14.0 WIP forms). */
const DRAFT_TITLE = /^\s*(?:\[(?:draft|wip)\]|\((?:draft|wip)\)|(?:draft|wip):|(?:draft|wip)\s+-\s)/i;

/** draft → ready: `changes.draft` (current GitLab), `changes.work_in_progress` (older), or title. */
function becameReady(p: MergeRequestHook): boolean {
  const c = p.changes ?? {};
  const flag = c.draft ?? c.work_in_progress;
  if (flag) return flag.previous === true && flag.current === false;
  // Oldest payloads only carry the title change; trust it only if the MR is not a draft now.
  const a = p.object_attributes;
  if (c.title && !(a.draft ?? a.work_in_progress ?? false)) {
    const before = c.title.previous ?? '';
    const after = c.title.current ?? a.title;
    return DRAFT_TITLE.test(before) && !DRAFT_TITLE.test(after);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Note Hook / Confidential Note Hook

function classifyNote(p: NoteHook, bot: BotIdentity | undefined): Classified {
  const a = p.object_attributes;
  if (a.noteable_type !== 'MergeRequest') return { ignore: `note on ${short(a.noteable_type)}` };
  // By id only: a username can be renamed or reused, an id cannot.
  if (bot && (a.author_id === bot.id || p.user.id === bot.id)) return { ignore: 'own note' };
  if (a.system) return { ignore: 'system note' };

  const action = a.action ?? 'create';
  if (action !== 'create' && action !== 'update') return { ignore: `note action ${short(action)}` };

  const body = a.note;
  if (body.trim() === '') return { ignore: 'empty note' };

  // The schema guarantees merge_request and discussion_id for MergeRequest notes.
  const mr = p.merge_request!;
  const discussionId = a.discussion_id!;
  if (!isMrState(mr.state)) return { ignore: `note on mr in state ${short(mr.state)}` };

  const mentions = findMentions(body, bot?.username ?? '');
  if (bot && (mr.state === 'closed' || mr.state === 'merged') && !mentions.bot) {
    return { ignore: `note on ${mr.state} mr` };
  }

  const event: NoteAdded = {
    kind: 'note',
    project: projectRef(p.project),
    iid: mr.iid,
    mrState: mr.state,
    mrTitle: mr.title,
    ...(mr.last_commit?.id ? { headSha: mr.last_commit.id } : {}),
    noteId: a.id,
    discussionId,
    body,
    author: userRef(p.user),
    noteType: noteType(a.type),
    position: a.position ?? null,
    action,
    mentionsBot: mentions.bot,
    mentionsOthers: mentions.others,
  };
  return { event };
}

function isMrState(s: string): s is MrState {
  return (MR_STATES as readonly string[]).includes(s);
}

/** LegacyDiffNote (pre-2017 diff notes, no position) and any future type count as thread notes. */
function noteType(t: string | null | undefined): NoteAdded['noteType'] {
  if (t == null || t === '') return null;
  if (t === 'DiffNote') return 'DiffNote';
  return 'DiscussionNote';
}

// ---------------------------------------------------------------------------------------------
// Mentions

// GitLab usernames: letters, digits, `_`, `-`, `.`; a mention never ends with `.`.
// Not preceded by a username/email character, `@` or `/` (emails, `@@x`, URLs like host/@user).
const MENTION = /(?<![A-Za-z0-9_.@/-])@([A-Za-z0-9_.-]*[A-Za-z0-9_-])/g;

/**
 * `@username` mentions in a Markdown note, outside code (fenced blocks and inline code spans).
 * `bot` compares case-insensitively with botUsername; `others` are lower-cased, deduplicated,
 * in order of appearance, bot excluded.
 */
export function findMentions(body: string, botUsername: string): { bot: boolean; others: string[] } {
  const botName = botUsername.replace(/^@/, '').toLowerCase();
  const text = stripInlineCode(stripFencedCode(body));
  let bot = false;
  const others = new Set<string>();
  for (const m of text.matchAll(MENTION)) {
    const name = m[1].toLowerCase();
    if (name === botName) bot = true;
    else others.add(name);
  }
  return { bot, others: [...others] };
}

/** Blanks fenced code blocks (``` or ~~~, ≥3, closed by a fence of the same char and ≥ length; unclosed runs to the end). */
function stripFencedCode(text: string): string {
  const lines = text.split('\n');
  let fence: { ch: string; len: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    // Allow any indentation and blockquote markers so fences inside lists/quotes count too.
    const m = /^[\s>]*(`{3,}|~{3,})(.*)$/.exec(lines[i]);
    if (fence) {
      if (m && m[1][0] === fence.ch && m[1].length >= fence.len && m[2].trim() === '') fence = null;
      lines[i] = '';
    } else if (m && !(m[1][0] === '`' && m[2].includes('`'))) {
      fence = { ch: m[1][0], len: m[1].length };
      lines[i] = '';
    }
  }
  return lines.join('\n');
}

/** Blanks CommonMark code spans: a run of N backticks up to the next run of exactly N. */
function stripInlineCode(text: string): string {
  const runs = [...text.matchAll(/`+/g)].map((m) => ({ at: m.index, len: m[0].length }));
  // next[i]: index of the next run with the same length (linear, so a 1 MB note stays cheap)
  const next: number[] = new Array(runs.length).fill(-1);
  const lastByLen = new Map<number, number>();
  for (let i = runs.length - 1; i >= 0; i--) {
    next[i] = lastByLen.get(runs[i].len) ?? -1;
    lastByLen.set(runs[i].len, i);
  }
  let out = '';
  let pos = 0;
  for (let i = 0; i < runs.length; i++) {
    const j = next[i];
    if (j < 0) continue; // unmatched: literal backticks
    const open = runs[i];
    const close = runs[j];
    out += text.slice(pos, open.at) + text.slice(open.at, close.at + close.len).replace(/[^\n]/g, ' ');
    pos = close.at + close.len;
    i = j;
  }
  return out + text.slice(pos);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function parse<S extends z.ZodType>(event: string, schema: S, payload: unknown): z.infer<S> {
  let result: z.ZodSafeParseResult<z.infer<S>>;
  try {
    result = schema.safeParse(payload) as z.ZodSafeParseResult<z.infer<S>>;
  } catch (err) {
    // e.g. a stack overflow on pathological input; never let it become a 500
    throw new PayloadError(`invalid ${event} payload: unparseable (${err instanceof Error ? err.name : 'error'})`);
  }
  if (result.success) return result.data;
  throw new PayloadError(`invalid ${event} payload: ${describeIssue(result.error.issues[0], payload)}`);
}

function describeIssue(issue: z.core.$ZodIssue, payload: unknown): string {
  const path = formatPath(issue.path);
  const got = kindOf(valueAt(payload, issue.path));
  let what: string;
  switch (issue.code) {
    case 'invalid_type':
      what = `expected ${issue.expected}, got ${got}`;
      break;
    case 'invalid_value':
      what = `expected ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}, got ${
        typeof valueAt(payload, issue.path) === 'string' ? quote(valueAt(payload, issue.path) as string) : got
      }`;
      break;
    default:
      // custom issues carry our own one-line messages; anything else is collapsed to one line
      what = issue.message;
  }
  return path ? `${path}: ${what}` : what;
}

function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const k of path) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += (s ? '.' : '') + String(k);
  }
  return short(s);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && !Number.isInteger(v)) return Number.isFinite(v) ? 'non-integer number' : String(v);
  return typeof v;
}

function projectRef(p: MergeRequestHook['project']): ProjectRef {
  return {
    id: p.id,
    path: p.path_with_namespace,
    ...(p.web_url ? { webUrl: p.web_url } : {}),
  };
}

function userRef(u: MergeRequestHook['user']): UserRef {
  return { id: u.id, username: u.username, ...(u.name ? { name: u.name } : {}) };
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim().slice(0, 300);
}

function short(s: string, max = 80): string {
  const t = oneLine(s);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function quote(s: string): string {
  return JSON.stringify(short(s, 60));
}
