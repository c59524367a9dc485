// Every structured answer the model gives, defined once: a zod schema per output. The `--json-schema` the CLI
// validates against is generated from these schemas, the TypeScript types are inferred from them, and the flows
// parse the CLI's `structured_output` with them. One contract, no copies to drift apart.
import { z } from 'zod';
import { ClaudeError } from '../claude/result.js';
import { proposedLearningSchema } from './learnings.js';

export const SEVERITIES = ['critical', 'major', 'minor', 'nit'] as const;
export const CATEGORIES = ['bug', 'security', 'data_loss', 'concurrency', 'performance', 'api_contract', 'tests', 'rule_violation', 'style'] as const;
/** The review posts at most this many findings: the CLI rejects a longer list, so the model must choose. */
export const MAX_FINDINGS = 5;

// `.catch(...)` marks fields with a safe fallback: the shared turn schema (below) requires nothing, so a turn's
// parse supplies what the model left out instead of failing a paid answer over a missing flag.
export const findingSchema = z.strictObject({
  file: z.string(),
  side: z.enum(['new', 'old']).catch('new'),
  start_line: z.number().int().min(1),
  end_line: z.number().int().min(1),
  /** the exact text of start_line in the file (head side for "new", base side for "old") */
  anchor_text: z.string(),
  severity: z.enum(SEVERITIES),
  category: z.enum(CATEGORIES),
  confidence: z.number().int().min(0).max(100),
  pre_existing: z.boolean().catch(false),
  title: z.string().max(80),
  body: z.string().max(800),
  /** `path:line: quoted text` each; every quote is matched against the checkout before posting (review/evidence.ts) */
  evidence: z.array(z.string()).catch([]),
  suggestion: z.string().nullable().optional(),
  /** for a broken project rule: the rule's words and the guidance file that holds them (review/rules.ts checks both) */
  rule: z.strictObject({ source: z.string(), quote: z.string() }).nullable().optional().catch(undefined),
});

export const reviewOutputSchema = z.strictObject({
  summary: z.string().max(600),
  risk: z.enum(['low', 'medium', 'high']).optional().catch(undefined),
  findings: z.array(findingSchema).max(MAX_FINDINGS),
});

/** What a thread or fix-check turn says to people; one definition so the shared turn schema has one `reply`. */
const replyText = z.string().max(4000);

export const VERDICTS = ['fix_needed', 'optional', 'withdrawn', 'answered'] as const;
export const replyOutputSchema = z.strictObject({
  reply: replyText.min(1),
  verdict: z.enum(VERDICTS).catch('answered'),
  /** a team convention the person stated; kept only when they are Developer+ (flows/learnings.ts) */
  learning: proposedLearningSchema.optional().catch(undefined),
  /** when the answer is a code change: whole lines replacing the thread's line (checked like a finding's suggestion) */
  suggestion: z.string().nullable().optional().catch(undefined),
});

export const fixCheckOutputSchema = z.strictObject({
  addressed: z.boolean(),
  /** empty when not addressed: nothing is posted then */
  reply: replyText,
  /** `path:line: quoted text` of the line that fixes it, at the new head; the thread is resolved only if it matches */
  fixed_by: z.string().max(600).optional().catch(undefined),
});

export const verifyOutputSchema = z.strictObject({
  verdicts: z.array(
    z.strictObject({
      id: z.number().int().min(1),
      verdict: z.enum(['confirmed', 'refuted', 'unverified']),
      evidence: z.string().max(600).catch(''),
      /** false: a confirmed finding whose suggested code is wrong is kept, without the suggestion */
      suggestion_ok: z.boolean().optional().catch(undefined),
    }),
  ),
});

export type Severity = (typeof SEVERITIES)[number];
export type Category = (typeof CATEGORIES)[number];
export type Finding = z.infer<typeof findingSchema>;
export type ReviewOutput = z.infer<typeof reviewOutputSchema>;
export type ReplyOutput = z.infer<typeof replyOutputSchema>;
export type FixCheckOutput = z.infer<typeof fixCheckOutputSchema>;
export type VerifyOutput = z.infer<typeof verifyOutputSchema>;
export type Verdict = VerifyOutput['verdicts'][number];

/** The JSON schema the CLI receives for a zod schema (draft-07 keywords; no `$schema`, which the CLI does not need). */
export function toCliSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  return rest;
}

/**
 * One output schema for every turn of an MR's sessions (review, push update, thread reply, fix check).
 * Why one: the CLI sends tools, then system, then messages, and a provider's prompt cache only matches an identical
 * beginning. With a per-turn schema the StructuredOutput tool differs between the trunk and its forks, so nothing of
 * the trunk's conversation could be served from cache (bench/context-reuse.ts measured 0%). Each turn's prompt says
 * which fields to fill; `parseTurn` checks them with that turn's schema.
 */
export const TURN_SCHEMA = toCliSchema(
  z.strictObject({ ...reviewOutputSchema.shape, ...replyOutputSchema.shape, ...fixCheckOutputSchema.shape }).partial(),
);

/** The verification pass runs in its own session, so it has its own schema. */
export const VERIFY_SCHEMA = toCliSchema(verifyOutputSchema);

/** Parse a turn's structured output with its own contract; a mismatch is the model's error, reported as such. */
export function parseTurn<S extends z.ZodType>(schema: S, structured: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(structured);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new ClaudeError('schema', `${what} output invalid${issue ? `: ${issue.path.join('.')}: ${issue.message}` : ''}`);
}

/** `@bot fix`: the plan a thread's fork proposes (nothing is written). Its own schema: a plan is not a review turn. */
export const planOutputSchema = z.strictObject({
  fixable: z.boolean(),
  summary: replyText.min(1),
  files: z.array(z.strictObject({ path: z.string().min(1).max(500), lines: z.string().max(100).catch(''), change: z.string().max(500) })).max(20),
  diff_preview: z.string().max(4000).catch(''),
});
export const PLAN_SCHEMA = toCliSchema(planOutputSchema);

/** `@bot apply`: what the fork did with its edit tools. */
export const applyOutputSchema = z.strictObject({
  fixed: z.boolean(),
  summary: replyText,
  commit_title: z.string().max(72).catch('Apply review fix'),
});
export const APPLY_SCHEMA = toCliSchema(applyOutputSchema);
export type PlanOutput = z.infer<typeof planOutputSchema>;
export type ApplyOutput = z.infer<typeof applyOutputSchema>;
