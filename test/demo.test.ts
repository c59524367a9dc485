// `npm run demo` completes without GitLab or a key, and shows the review and both thread answers.
// Without a terminal it stays up, serving the URL it prints, until SIGTERM; `--once` exits after the walk-through.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../standins/harness.js';

const env = { ...process.env };
delete env.ANTHROPIC_API_KEY;
delete env.ANTHROPIC_BASE_URL;
delete env.DEMO_PORT;

describe('npm run demo', () => {
  it('--once: reviews the sample MR and answers the question and the follow-up, with the scripted model, then exits 0', async () => {
    const r = await execa('npm', ['run', '--silent', 'demo', '--', '--once'], { reject: false, env, extendEnv: false, timeout: 180_000 });
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
    expect(r.stdout).not.toContain('keep running');
  }, 200_000);

  it('without a terminal: keeps serving the status page it prints until SIGTERM, then exits 0', async () => {
    // node directly: what is tested is the demo's own signal handling, not npm's forwarding
    const child = execa('node', ['--import', 'tsx', 'demo/run.ts'], { reject: false, env, extendEnv: false, stdin: 'ignore' });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    try {
      await waitFor(() => stdout.includes('keep running') || child.exitCode !== null, 180_000, 'the demo to finish its walk-through');
      expect(child.exitCode, stdout).toBeNull();
      const url = /Status page: (\S+)/.exec(stdout)![1]!;
      // as a browser opens it: the token is traded for a cookie, then the page
      const first = await fetch(url, { redirect: 'manual' });
      const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      const page = await fetch(new URL(first.headers.get('location') ?? '/', url), { headers: { cookie } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('demo/shop');
      expect((await fetch(new URL('/metrics', url))).status).toBe(200);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
    }
    const r = await child;
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toContain('stopping…');
  }, 200_000);
});
