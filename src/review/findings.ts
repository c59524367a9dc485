// The review's output contract: defined once, as zod, in outputs.ts.
export { CATEGORIES, SEVERITIES, type Category, type Finding, type ReviewOutput, type Severity } from './outputs.js';
