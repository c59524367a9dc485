// Project-rule findings must cite the rule: a finding that says a rule is broken names the guidance
// file and quotes the rule's words, and both are checked against the guidance the bot actually loaded from the
// target branch. A "rule" the model made up, or remembered from another project, never reaches GitLab. Pure.
import { normalizeCodeLine } from '../gitlab/diff.js';
import type { Finding } from './outputs.js';
import { normalizePath } from './anchor.js';

export interface GuidanceFile {
  path: string;
  text: string;
}

/** Bullets, quotes and case do not matter; words do. */
const norm = (s: string) => normalizeCodeLine(s.replace(/^[\s>*\-•"'`]+|["'`]+$/gm, '')).toLowerCase();

const GUIDANCE_NAMED = /\b(?:CLAUDE|AGENTS|REVIEW)\.md\b|mr-reviewer\.yml/i;

/** Why a rule finding cannot be posted, or undefined (also for findings that claim no rule). */
export function ruleProblem(f: Pick<Finding, 'category' | 'rule'> & Partial<Pick<Finding, 'title' | 'body'>>, guidance: GuidanceFile[]): string | undefined {
  if (!f.rule) {
    if (f.category === 'rule_violation') return 'rule violation without a quoted rule';
    // "As CLAUDE.md says…" is a rule claim too, whatever the category.
    return GUIDANCE_NAMED.test(`${f.title ?? ''}\n${f.body ?? ''}`) ? 'names a guidance file without quoting its rule' : undefined;
  }
  const quote = norm(f.rule.quote);
  if (quote.length < 8) return 'the quoted rule is too short to identify';
  const source = normalizePath(f.rule.source);
  const named = guidance.filter((g) => g.path === source || g.path.endsWith(`/${source}`));
  if (named.length === 0) return `the rule's source ${f.rule.source} is not a guidance file of the target branch`;
  if (!named.some((g) => norm(g.text).includes(quote))) return `the quoted rule is not in ${f.rule.source}`;
  return undefined;
}
