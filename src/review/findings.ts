// The review's output contract: what the model returns through --json-schema (see review-guide §3).

export const SEVERITIES = ['critical', 'major', 'minor', 'nit'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const CATEGORIES = [
  'bug',
  'security',
  'data_loss',
  'concurrency',
  'performance',
  'api_contract',
  'tests',
  'rule_violation',
  'style',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Finding {
  file: string;
  side: 'new' | 'old';
  start_line: number;
  end_line: number;
  /** the exact text of start_line in the file (head side for "new", base side for "old") */
  anchor_text: string;
  severity: Severity;
  category: Category;
  confidence: number;
  pre_existing: boolean;
  title: string;
  body: string;
  evidence: string[];
  suggestion?: string | null;
}

export interface ReviewOutput {
  summary: string;
  risk?: 'low' | 'medium' | 'high';
  findings: Finding[];
}

/** JSON schema handed to `claude --json-schema` for a trunk review. */
export const REVIEW_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['summary', 'risk', 'findings'],
  properties: {
    summary: { type: 'string', maxLength: 600 },
    risk: { enum: ['low', 'medium', 'high'] },
    findings: {
      type: 'array',
      maxItems: 5,
      items: {
        type: 'object',
        additionalProperties: false,
        required: [
          'file',
          'side',
          'start_line',
          'end_line',
          'anchor_text',
          'severity',
          'category',
          'confidence',
          'pre_existing',
          'title',
          'body',
          'evidence',
        ],
        properties: {
          file: { type: 'string' },
          side: { enum: ['new', 'old'] },
          start_line: { type: 'integer', minimum: 1 },
          end_line: { type: 'integer', minimum: 1 },
          anchor_text: { type: 'string' },
          severity: { enum: [...SEVERITIES] },
          category: { enum: [...CATEGORIES] },
          confidence: { type: 'integer', minimum: 0, maximum: 100 },
          pre_existing: { type: 'boolean' },
          title: { type: 'string', maxLength: 80 },
          body: { type: 'string', maxLength: 800 },
          evidence: { type: 'array', items: { type: 'string' } },
          suggestion: { type: ['string', 'null'] },
        },
      },
    },
  },
} as const;
