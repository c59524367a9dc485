// Evidence checked in code, not trusted: each evidence item is `path:line: quoted text`, and the quote
// must be on that line (or range) of the file at the reviewed commit. A model that invents a line, or quotes code
// that is not there, is caught here before anything reaches GitLab. Pure: the caller reads the files.
import { normalizeCodeLine } from '../gitlab/diff.js';
import { normalizePath } from './anchor.js';

export interface EvidenceRef {
  path: string;
  line: number;
  endLine: number;
  quote: string;
}

/** `src/a.ts:12: text` or `src/a.ts:12-14: text`; backticks around the item or the quote are allowed. */
const EVIDENCE = /^`?([^`\s][^:\n]*?):(\d+)(?:-(\d+))?:[ \t]*([\s\S]*?)`?$/;

export function parseEvidence(item: string): EvidenceRef | undefined {
  const m = EVIDENCE.exec(item.trim());
  if (!m) return undefined;
  const line = Number(m[2]);
  const endLine = m[3] ? Number(m[3]) : line;
  const quote = m[4]!.trim().replace(/^`+|`+$/g, '');
  if (line < 1 || endLine < line || endLine - line > 50) return undefined;
  return { path: normalizePath(m[1]!), line, endLine, quote };
}

/** Quotes this short prove nothing (`}` is on every other line). */
const MIN_QUOTE = 4;

/**
 * The quote, whitespace-normalised, is within the cited lines (a fragment of a line is fine: models quote the part
 * that matters). A multi-line quote may run past `endLine` by as many lines as it has.
 */
export function quoteMatches(ref: EvidenceRef, fileText: string | undefined): boolean {
  if (fileText === undefined) return false;
  const lines = fileText.replace(/\r\n?/g, '\n').split('\n');
  const extra = ref.quote.split('\n').length - 1;
  const cited = normalizeCodeLine(lines.slice(ref.line - 1, ref.endLine + extra).join('\n'));
  if (!cited) return false;
  // A quote copied from the rendered diff may carry its "12 +" or "+" prefix: the code after it must match.
  const forms = [ref.quote, ref.quote.replace(/^\s*\d+\s*[+\- ]\s?/gm, ''), ref.quote.replace(/^[+\- ]/gm, '')].map(normalizeCodeLine);
  return forms.some((q) => q.length >= MIN_QUOTE && cited.includes(q));
}

/** Every file the findings' evidence cites, for one batched read. */
export function citedPaths(evidence: string[][]): string[] {
  return [...new Set(evidence.flat().map(parseEvidence).filter((r) => r !== undefined).map((r) => r.path))];
}

/** Why a finding's evidence fails, or undefined when every item is a quote found where it says. */
export function evidenceProblem(evidence: string[], files: Map<string, string>): string | undefined {
  const items = evidence.map((e) => e.trim()).filter(Boolean);
  if (items.length === 0) return 'no evidence quoted';
  for (const item of items) {
    const ref = parseEvidence(item);
    if (!ref) return `evidence not in "path:line: quoted text" form: ${item.slice(0, 80)}`;
    if (!files.has(ref.path)) return `evidence cites ${ref.path}, which is not in the checkout`;
    if (!quoteMatches(ref, files.get(ref.path))) return `quote not found at ${ref.path}:${ref.line}`;
  }
  return undefined;
}
