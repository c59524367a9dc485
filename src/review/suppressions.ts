// Lint-suppressed lines and what linters own. A line carrying `eslint-disable-next-line no-eval`,
// `# noqa: E501`, `// @ts-expect-error` and the like was a deliberate choice; a finding about that very rule is
// noise. Style is the linters' job unless the repository asks for nits. Pure.
import type { Finding } from './outputs.js';

/** Suppression comments; group 1, when present, lists the rules they name. */
const SUPPRESSIONS: RegExp[] = [
  /eslint-disable(?:-next-line|-line)?\b([^\n*]*)/,
  /\bnoqa\b(?::\s*([\w, ]+))?/i,
  /@ts-(?:expect-error|ignore|nocheck)()/,
  /#\s*type:\s*ignore(?:\[([\w\-, ]+)\])?/,
  /\/\/\s*nolint(?::([\w,]+))?/,
  /NOSONAR()/,
  /rubocop:disable\s+([\w/, ]+)/,
  /pylint:\s*disable=([\w\-, ]+)/,
  /#!?\[allow\(([\w:, ]+)\)\]/,
  /@SuppressWarnings\(([^)]*)\)/,
  /biome-ignore\s+([\w/]+)/,
  /shellcheck\s+disable=([\w,]+)/,
  /(?:prettier|stylelint)-ignore()/,
];

export interface Suppression {
  comment: string;
  rules: string[];
}

/** The suppressions on `lines` (the finding's lines and the one above them). */
export function suppressionsIn(lines: string[]): Suppression[] {
  const out: Suppression[] = [];
  for (const line of lines) {
    for (const re of SUPPRESSIONS) {
      const m = re.exec(line);
      if (!m) continue;
      const rules = (m[1] ?? '').split(/[\s,]+/).map((r) => r.replace(/^["'(]+|["')]+$/g, '').trim()).filter((r) => r.length > 1 && r !== '--');
      out.push({ comment: m[0].trim(), rules });
    }
  }
  return out;
}

/**
 * Why the finding is lint noise, or undefined. `around`: the file's lines from the one above start_line to end_line.
 * A suppression naming rules drops a finding that mentions one of them; a bare one drops style findings.
 */
export function lintProblem(f: Pick<Finding, 'category' | 'title' | 'body'>, around: string[], styleWanted: boolean): string | undefined {
  if (f.category === 'style' && !styleWanted) return 'style is what linters and formatters own';
  const text = `${f.title}\n${f.body}`.toLowerCase();
  for (const s of suppressionsIn(around)) {
    if (s.rules.length ? s.rules.some((r) => text.includes(r.toLowerCase())) : f.category === 'style') {
      return `the line carries a lint suppression for it (${s.comment})`;
    }
  }
  return undefined;
}
