// The review's output contract (see review-guide §3): defined once, as zod, in outputs.ts.
export { CATEGORIES, SEVERITIES, type Category, type Finding, type ReviewOutput, type Severity } from './outputs.js';
