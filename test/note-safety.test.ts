// Model text made safe to post: checked against the stand-in's copy of GitLab's quick-action extractor and mentions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readMarker, withMarker, type Marker } from '../src/gitlab/markers.js';
import { safeNoteBody } from '../src/gitlab/note-safety.js';
import { makeRedactor } from '../src/redact.js';
import { extractCommands, extractMentions } from '../standins/gitlab/quick-actions.js';

const MARKER: Marker = { kind: 'finding', fp: 'abc123' };
const safe = (text: string, o: Parameters<typeof safeNoteBody>[1] = {}) => safeNoteBody(withMarker(text, MARKER), o);

describe('safeNoteBody', () => {
  it('leaves nothing GitLab would run or notify, and renders the same words', () => {
    const out = safe('Fix this.\n/merge\n/approve\n/label ~x\n/close\ncc @all @here @devs/team');
    expect(extractCommands(out).commands).toEqual([]);
    expect(extractMentions(out)).toEqual([]);
    expect(out).toContain('\\/merge\n\\/approve'); // `\/` renders as `/`
    expect(readMarker(out)).toEqual(MARKER);
  });

  it('keeps fenced code verbatim, and mentions the bot means', () => {
    const code = '```sh\n/merge\n@all\n```';
    const out = safe(`See:\n${code}\nAsk @review-bot or @Alice.`, { mentions: ['review-bot', 'alice'] });
    expect(out).toContain(code);
    expect(extractMentions(out)).toEqual(['review-bot', 'Alice']);
  });

  it('moves fences to column 0 so a list cannot hide a command from the bot', () => {
    // GitLab: the fence belongs to the list item, `/merge` at column 0 leaves it and runs.
    const out = safe('1. step\n   ```\n/merge\n```\n/close\n```');
    expect(extractCommands(out).commands).toEqual([]);
  });

  it('escapes HTML blocks, `>>>` and comments, which could hide a fence or forge a marker', () => {
    const out = safe('<!--\n```\n-->\n/merge\n```\n>>>\n```\n>>>\n/approve\n```\n<!-- mr-reviewer {"kind":"summary"} -->');
    expect(extractCommands(out).commands).toEqual([]);
    expect(readMarker(out)).toEqual(MARKER);
  });

  it("keeps the bot's own HTML (<details>, <sub>) and watches the lines inside it", () => {
    const own = '<details><summary>Not reviewed (1 files)</summary>\n\n- `a.bin`: binary\n\n</details>\n\n<sub>Reply here.</sub>';
    expect(safe(own)).toBe(withMarker(own, MARKER));
    // a lone tag cannot interrupt a paragraph: to GitLab the fence below is real; escaped, it is no fence to either
    const out = safe('para\n<span>\n```\n/merge\n```\n\n```\n/close\n```\n/approve');
    expect(extractCommands(out).commands).toEqual([]);
  });

  it('closes a fence the model left open before the marker', () => {
    const out = safe('Look:\n~~~~js\nlet x = 1;\n/merge');
    expect(out).toMatch(/\/merge\n~~~~\n\n<!-- mr-reviewer/);
    expect(readMarker(out)).toEqual(MARKER);
  });

  it('cuts long text without cutting the marker or leaving a fence open', () => {
    const out = safe(`\`\`\`\n${'x'.repeat(2_000_000)}`);
    expect(out.length).toBeLessThanOrEqual(1_000_000);
    expect(out).toContain('longer than GitLab allows');
    expect(out).toMatch(/x\n```\n/);
    expect(readMarker(out)).toEqual(MARKER);
  });

  it('redacts secrets verbatim, base64- and URL-encoded, and token shapes', () => {
    const secret = 'glpat-OurOwnToken-123456';
    const redact = makeRedactor([secret, 'hook/secret+xyz=987']);
    const b64 = Buffer.from(`user:${secret}`).toString('base64');
    const b64url = Buffer.from(`ab${secret}!`).toString('base64url');
    const out = safe(`a ${secret} b ${b64} c ${b64url} d ${encodeURIComponent('hook/secret+xyz=987')} e glpat-SomeoneElses-0123456789 f sk-ant-api03-abcdefghijklmnopqrstuv`, { redact });
    expect(out).toBe(withMarker('a [redacted] b [redacted] c [redacted] d [redacted] e [redacted] f [redacted]', MARKER));
  });

  it('is idempotent', () => {
    const once = safe('/merge\n@all\n<div>\n>>>\n```\n/x');
    expect(safeNoteBody(once)).toBe(once);
  });

  it('property: whatever the model writes, GitLab runs nothing, notifies no one, and reads the marker', () => {
    const piece = fc.constantFrom(
      '/merge', '/approve', '/close', '/label ~x', '/assign @bob', 'text', ' ', '  ', '   ', '    ', '\t', '\n', '\n\n', '\r',
      '```', '````', '~~~', '```js', '- ', '1. ', '> ', '>>>', '<!--', '-->', '<div>', '</div>', '<pre>', '<span>', '<details>', '</pre>', '`', '@all', '@here',
      '@alice', '#', '|', 'x@y', '\\',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }), (parts, noise) => {
        const out = safe([...parts, ...noise].join(''), { mentions: ['alice'] });
        expect(extractCommands(out).commands).toEqual([]);
        expect(extractMentions(out).filter((m) => m.toLowerCase() !== 'alice')).toEqual([]);
        expect(readMarker(out)).toEqual(MARKER);
      }),
      { numRuns: 3000 },
    );
  });
});
