// .gitlab/mr-reviewer.yml, read from the MR's TARGET branch: maintainers decide how their MRs are reviewed,
// an MR cannot change its own review. Invalid files fall back to defaults and are reported once.
import picomatch from 'picomatch';
import YAML from 'yaml';
import { z } from 'zod';
import { SEVERITIES, type Severity } from './findings.js';

export const REPO_CONFIG_PATH = '.gitlab/mr-reviewer.yml';
/** who the bot answers in threads: everyone who can comment, project members (Guest+), or Developers+ */
export const QUESTION_AUDIENCES = ['everyone', 'members', 'developers'] as const;
export type QuestionAudience = (typeof QUESTION_AUDIENCES)[number];
/** which findings block merging (open threads): critical and major (`high`), every one, or none */
export const BLOCKING_LEVELS = ['high', 'all', 'none'] as const;
export type BlockingLevel = (typeof BLOCKING_LEVELS)[number];
/** where a non-blocking finding goes: a thread the bot resolves at once, or only a line in the summary */
export const MINOR_PLACES = ['thread', 'summary'] as const;
export type MinorPlace = (typeof MINOR_PLACES)[number];
/** when the verification pass fails: hold the new findings back (summary only), or post them labelled unverified */
export const VERIFICATION_FAILURE_MODES = ['hold', 'label'] as const;
export type VerificationFailureMode = (typeof VERIFICATION_FAILURE_MODES)[number];

const schema = z
  .object({
    instructions: z.string().max(20_000).optional(),
    include: z.array(z.string()).optional(),
    exclude: z.array(z.string()).optional(),
    review_drafts: z.boolean().optional(),
    severity_threshold: z.enum(SEVERITIES).optional(),
    budget_per_review_usd: z.number().positive().max(100).optional(),
    budget_per_thread_usd: z.number().positive().max(100).optional(),
    language: z.string().max(40).optional(),
    auto_review: z.boolean().optional(),
    questions: z.enum(QUESTION_AUDIENCES).optional(),
    questions_per_user_per_day: z.number().int().min(0).max(10_000).optional(),
    apply: z
      .strictObject({
        /** globs `@bot apply` never edits (CI config and this file are always refused) */
        deny: z.array(z.string()).optional(),
        /** the largest change (lines added + removed) an apply may commit */
        max_diff_lines: z.number().int().min(1).max(100_000).optional(),
        /** fork MRs: only when this is true and the fork allows commits from maintainers */
        forks: z.boolean().optional(),
      })
      .optional(),
    blocking: z.enum(BLOCKING_LEVELS).optional(),
    minor: z.enum(MINOR_PLACES).optional(),
    on_verification_failure: z.enum(VERIFICATION_FAILURE_MODES).optional(),
  })
  .strict();

export type RepoConfigFile = z.infer<typeof schema>;

export interface RepoConfig {
  instructions?: string;
  include: string[];
  exclude: string[];
  reviewDrafts: boolean;
  minSeverity: Severity;
  reviewBudgetUsd: number;
  threadBudgetUsd: number;
  language?: string;
  autoReview: boolean;
  questions: QuestionAudience;
  /** 0 = no limit */
  questionsPerUserPerDay: number;
  apply: { deny: string[]; maxDiffLines: number; forks: boolean };
  blocking: BlockingLevel;
  minor: MinorPlace;
  onVerificationFailure: VerificationFailureMode;
}

export interface InstanceDefaults {
  reviewDrafts: boolean;
  minSeverity: Severity;
  reviewBudgetUsd: number;
  threadBudgetUsd: number;
  language?: string;
  questionsPerUserPerDay: number;
  applyMaxDiffLines?: number;
}

export function defaultRepoConfig(d: InstanceDefaults): RepoConfig {
  return {
    include: [],
    exclude: [],
    reviewDrafts: d.reviewDrafts,
    minSeverity: d.minSeverity,
    reviewBudgetUsd: d.reviewBudgetUsd,
    threadBudgetUsd: d.threadBudgetUsd,
    language: d.language,
    autoReview: true,
    questions: 'everyone',
    questionsPerUserPerDay: d.questionsPerUserPerDay,
    apply: { deny: [], maxDiffLines: d.applyMaxDiffLines ?? 200, forks: false },
    blocking: 'high',
    minor: 'thread',
    onVerificationFailure: 'label',
  };
}

/** Parse the file's text; `error` names the first problem in one line, and defaults apply. */
export function parseRepoConfig(text: string | undefined, d: InstanceDefaults): { config: RepoConfig; error?: string } {
  const base = defaultRepoConfig(d);
  if (text === undefined || !text.trim()) return { config: base };
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    return { config: base, error: `${REPO_CONFIG_PATH} is not valid YAML: ${(e as Error).message.split('\n')[0]}` };
  }
  if (raw === null || raw === undefined) return { config: base };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    const where = i.path.length ? i.path.join('.') : '(top level)';
    return { config: base, error: `${REPO_CONFIG_PATH}: ${where}: ${i.message}` };
  }
  const f = parsed.data;
  return {
    config: {
      instructions: f.instructions,
      include: f.include ?? [],
      exclude: f.exclude ?? [],
      reviewDrafts: f.review_drafts ?? base.reviewDrafts,
      minSeverity: f.severity_threshold ?? base.minSeverity,
      reviewBudgetUsd: f.budget_per_review_usd ?? base.reviewBudgetUsd,
      threadBudgetUsd: f.budget_per_thread_usd ?? base.threadBudgetUsd,
      language: f.language ?? base.language,
      autoReview: f.auto_review ?? true,
      questions: f.questions ?? base.questions,
      questionsPerUserPerDay: f.questions_per_user_per_day ?? base.questionsPerUserPerDay,
      apply: { deny: f.apply?.deny ?? [], maxDiffLines: f.apply?.max_diff_lines ?? base.apply.maxDiffLines, forks: f.apply?.forks ?? false },
      blocking: f.blocking ?? base.blocking,
      minor: f.minor ?? base.minor,
      onVerificationFailure: f.on_verification_failure ?? base.onVerificationFailure,
    },
  };
}

/** How a finding of `severity` is posted: an open thread that blocks merging, a thread resolved at once, or a summary line. */
export function placement(c: Pick<RepoConfig, 'blocking' | 'minor'>, severity: string): 'blocking' | 'thread' | 'summary' {
  const blocks = c.blocking === 'all' || (c.blocking === 'high' && (severity === 'critical' || severity === 'major'));
  return blocks ? 'blocking' : c.minor;
}

/** A path filter from include/exclude globs: a reason to skip, or undefined to review. */
export function pathFilter(c: RepoConfig): (path: string) => string | undefined {
  const inc = c.include.length ? picomatch(c.include, { dot: true }) : undefined;
  const exc = c.exclude.length ? picomatch(c.exclude, { dot: true }) : undefined;
  return (p) => {
    if (inc && !inc(p)) return 'not in include globs';
    if (exc && exc(p)) return 'excluded by config';
    return undefined;
  };
}
