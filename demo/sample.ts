// The demo's sample MR (a cart module with three real bugs) and the scripted model that reviews it and answers the
// two questions; shared by `npm run demo` and the cost bench (bench/cost.ts), which meters what it costs.
import type { Finding } from '../src/review/findings.js';
import type { RecordedRequest, Reply } from '../standins/model.js';

export const BASE = `export function total(items) {
  let sum = 0;
  for (const item of items) sum += item.price * item.qty;
  return sum;
}
`;
export const FEATURE = `${BASE}
/** Average price per item, for the basket summary. */
export function averagePrice(items) {
  return total(items) / items.length;
}

/** Applies a discount code like "SAVE10" (10 % off). */
export function applyDiscount(amount, code) {
  const percent = parseInt(code.slice(4));
  return amount - amount * percent;
}

/** The n most expensive items, for the "you might also like" box. */
export function mostExpensive(items, n) {
  return items.sort((a, b) => b.price - a.price).slice(0, n);
}
`;
export const QUESTION = 'Is this really a bug? Show me a concrete input where it goes wrong.';
export const FOLLOW_UP = 'Fair. What is the smallest change that fixes it?';

function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l === needle);
  if (i < 0) throw new Error(`demo: no line ${needle}`);
  return i + 1;
}

/** The scripted model: sensible findings for the sample, and answers to the two questions. */
export function scripted(req: RecordedRequest): Reply | undefined {
  const last = req.messages.at(-1);
  if (Array.isArray(last?.content) && last.content.some((b: { type?: string }) => b.type === 'tool_result')) return undefined; // after the structured output: "OK"
  const asked = req.lastUserText;
  // typed as Finding so the script cannot drift from the review schema the CLI validates against
  // evidence quotes the anchor line: the bot checks every quote against the checkout before posting
  const f = (file: string, anchor: string, rest: Pick<Finding, 'severity' | 'title' | 'body'> & Partial<Finding>): Finding => ({
    file, side: 'new', start_line: lineOf(FEATURE, anchor), end_line: lineOf(FEATURE, anchor), anchor_text: anchor, category: 'bug', confidence: 95, pre_existing: false,
    evidence: [`${file}:${lineOf(FEATURE, anchor)}: ${anchor.trim()}`], ...rest,
  });
  if (asked.includes('Verify these candidate findings')) {
    // the verification pass: the sample's three bugs are real
    const ids = [...asked.matchAll(/^\[(\d+)\] /gm)].map((m) => Number(m[1]));
    return { structured: { verdicts: ids.map((id) => ({ id, verdict: 'confirmed', evidence: 'traced in src/cart.js' })) } };
  }
  if (asked.includes('## File:')) {
    return {
      structured: {
        summary: 'Adds averagePrice, applyDiscount and mostExpensive to the cart module. The discount maths is wrong by a factor of 100, an empty cart produces NaN, and mostExpensive reorders the caller\'s cart.',
        risk: 'high',
        findings: [
          f('src/cart.js', '  return amount - amount * percent;', {
            severity: 'critical', title: 'Discount is applied as a whole number, not a percentage',
            body: '`percent` is 10 for `SAVE10`, so `amount * percent` is ten times the amount: `applyDiscount(50, "SAVE10")` returns -450 instead of 45.',
            suggestion: '  return amount - (amount * percent) / 100;',
          }),
          f('src/cart.js', '  return total(items) / items.length;', {
            severity: 'major', title: 'An empty cart gives NaN',
            body: 'With no items this is `0 / 0`, which is `NaN`, and the basket summary shows "NaN".',
            suggestion: '  return items.length ? total(items) / items.length : 0;',
          }),
          f('src/cart.js', '  return items.sort((a, b) => b.price - a.price).slice(0, n);', {
            severity: 'minor', title: 'Sorts the caller\'s cart in place',
            body: '`Array.prototype.sort` mutates `items`, so showing the box reorders the cart itself.',
            suggestion: '  return [...items].sort((a, b) => b.price - a.price).slice(0, n);',
          }),
        ],
      },
    };
  }
  if (asked.includes(FOLLOW_UP)) {
    return { structured: { verdict: 'fix_needed', reply: 'Divide by 100: `return amount - (amount * percent) / 100;` (the suggestion on this thread). While you are there, reject codes whose suffix is not a number, or `FREESHIP` gives `parseInt("SHIP")` = NaN and the total becomes NaN.' } };
  }
  if (asked.includes(QUESTION)) {
    return { structured: { verdict: 'fix_needed', reply: 'Yes. `applyDiscount(50, "SAVE10")`: `percent` is `parseInt("10")` = 10, so it returns `50 - 50 * 10` = **-450**. A 10 % discount should give 45; the code treats 10 % as 1000 %.' } };
  }
  return undefined;
}

