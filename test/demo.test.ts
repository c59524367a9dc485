// Issue 8: `npm run demo` completes without GitLab or a key, and shows the review and both thread answers.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

describe('npm run demo', () => {
  it('reviews the sample MR and answers the question and the follow-up, with the scripted model', async () => {
    const env = { ...process.env };
    delete env.ANTHROPIC_API_KEY;
    delete env.ANTHROPIC_BASE_URL;
    const r = await execa('npm', ['run', '--silent', 'demo'], { reject: false, env, extendEnv: false, timeout: 110_000 });
    expect(r.stdout).toContain('using the scripted model stand-in');
    expect(r.exitCode).toBe(0);
    const [, review = '', thread = ''] = r.stdout.split(/=== Review ===|=== Thread on /);
    expect(review).toContain('**Open findings** | 3');
    expect(review).toContain('Discount is applied as a whole number');
    expect(review).toContain('src/cart.js:15');
    expect(thread).toContain('@alice: Is this really a bug?');
    expect(thread).toContain('-450');
    expect(thread).toContain('@alice: Fair. What is the smallest change that fixes it?');
    expect(thread).toContain('Divide by 100');
    expect(r.stdout).toMatch(/└─ fork [0-9a-f-]{36}/);
    expect(r.stdout).toMatch(/Status page: http:\/\/127\.0\.0\.1:\d+\/\?token=demo-admin-/);
  });
});
