import { describe, expect, it } from 'vitest';
import { buildArgs } from '../../src/claude/options.js';
import { editRefusal, normalPath, planRefusal } from '../../src/flows/apply.js';
import type { FixPlan } from '../../src/store/records.js';

const plan: FixPlan = { noteId: 1, sha: 'a'.repeat(40), files: [{ path: 'src/math.js', lines: '6', change: 'guard' }], summary: 's', preview: '', at: '' };
const cfg = { deny: ['secrets/**', '*.pem'], maxDiffLines: 200, forks: false };

describe('apply guard rails', () => {
  it('allows only the planned files', () => {
    expect(editRefusal([{ status: 'M', path: 'src/math.js' }], plan, cfg)).toBeUndefined();
    expect(editRefusal([{ status: 'A', path: 'src/other.js' }], plan, cfg)).toContain('not one of the planned files');
  });

  it('never CI config, the bot\'s repo config or deny-listed globs, even when planned', () => {
    for (const p of ['.gitlab-ci.yml', '.gitlab/mr-reviewer.yml', 'secrets/prod/key', 'deploy.pem']) {
      const planned = { ...plan, files: [{ path: p, lines: '', change: '' }] };
      expect(editRefusal([{ status: 'M', path: p }], planned, cfg)).toContain('may not be changed');
      expect(planRefusal(planned, cfg)).toContain('may not be changed');
    }
  });

  it('refuses plans that point outside the checkout', () => {
    expect(planRefusal({ ...plan, files: [{ path: '../etc/passwd', lines: '', change: '' }] }, cfg)).toContain('outside the checkout');
    expect(normalPath('./src//a/./b.js')).toBe('src/a/b.js');
    expect(normalPath('/etc/passwd')).toBe('etc/passwd');
  });

  it('gives the apply edit tools and nothing else; project settings stay ignored', () => {
    const args = buildArgs({ mode: { kind: 'resume', transcript: '/t/x.jsonl' }, systemPrompt: 's', tools: 'edit' });
    const at = (f: string) => args[args.indexOf(f) + 1];
    expect(at('--tools')).toBe('Read,Grep,Glob,Edit,Write');
    expect(at('--disallowedTools')!.split(',')).toEqual(expect.arrayContaining(['Bash', 'WebFetch', 'WebSearch', 'Task', 'NotebookEdit', 'MultiEdit']));
    expect(at('--disallowedTools')!.split(',')).not.toContain('Edit');
    expect(at('--disallowedTools')!.split(',')).not.toContain('Write');
    expect(at('--permission-mode')).toBe('acceptEdits');
    expect(at('--setting-sources')).toBe('user');
    expect(args).toContain('--strict-mcp-config');
    const review = buildArgs({ mode: { kind: 'resume', transcript: '/t/x.jsonl' }, systemPrompt: 's' });
    expect(review[review.indexOf('--tools') + 1]).toBe('Read,Grep,Glob');
    expect(review[review.indexOf('--permission-mode') + 1]).toBe('default');
  });
});
