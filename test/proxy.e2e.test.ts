// HTTPS_PROXY / HTTP_PROXY / NO_PROXY as the README states them: the claude CLI (the model API), git and the bot's own
// GitLab API calls all go through the proxy.
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEnv } from '../src/claude/options.js';
import { readMarker } from '../src/gitlab/markers.js';
import { API_KEY, SECRET, TOKEN, finding, reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';
import { startProxy, type ProxyStandin } from './support/proxy.js';

const PROXY_VARS = ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'NO_PROXY', 'no_proxy'] as const;

describe('proxies', () => {
  let proxy: ProxyStandin;
  let h: Harness;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    proxy = await startProxy();
    // The bot reads them from its own environment, as it would from a unit file or a pod spec.
    for (const k of PROXY_VARS) saved[k] = process.env[k];
    process.env.HTTPS_PROXY = proxy.url;
    process.env.HTTP_PROXY = proxy.url;
    process.env.http_proxy = proxy.url; // git reads the lowercase one for http:// URLs
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
    for (const k of PROXY_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await proxy?.close();
  });

  it('a review reaches the model API, fetches the repository and calls the GitLab API through the proxy', async () => {
    const { project, mr } = await sampleMr(h, { path: 'acme/proxied' });
    h.model.script({ structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' })]) });
    expect((await h.send(h.gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => h.gitlab.discussions(project, mr.iid).some((d) => d.notes.some((n) => readMarker(n.body)?.kind === 'summary')), 90_000, 'the summary note');

    const model = new URL(h.model.url);
    const gitlab = new URL(h.gitlab.url);
    expect(proxy.requests).toContainEqual(expect.stringMatching(new RegExp(`^POST http://${model.host}/v1/messages`)));
    expect(proxy.requests).toContainEqual(expect.stringMatching(new RegExp(`^GET http://${gitlab.host}/acme/proxied\\.git/info/refs\\?service=git-upload-pack$`)));
    // undici tunnels the bot's API calls (CONNECT to GitLab's host); git sends absolute-form requests.
    expect(proxy.requests).toContain(`CONNECT ${gitlab.host}`);
    // The inline finding went out as a form post through the proxy, position intact.
    const note = h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'finding');
    expect(note).toMatchObject({ type: 'DiffNote', position: { new_path: 'src/math.js', new_line: 6 } });
  });

  it('doctor probes the model through the CLI (which uses the proxy) and passes', async () => {
    const before = proxy.requests.length;
    const r = await execa('node', [path.resolve('bin/mr-reviewer.js'), 'doctor'], {
      reject: false,
      extendEnv: false,
      env: {
        PATH: process.env.PATH ?? '',
        GITLAB_URL: h.gitlab.url,
        GITLAB_TOKEN: TOKEN,
        GITLAB_WEBHOOK_SECRET: SECRET,
        DATA_DIR: path.join(h.dataDir, 'doctor'),
        ANTHROPIC_API_KEY: API_KEY,
        ANTHROPIC_BASE_URL: h.model.url,
        HTTPS_PROXY: proxy.url,
        HTTP_PROXY: proxy.url,
      },
    });
    expect(r.stdout).toContain('✓ model access  the CLI answered with ANTHROPIC_API_KEY');
    expect(r.stdout).toContain('All checks passed.');
    expect(proxy.requests.slice(before)).toContainEqual(expect.stringMatching(/^POST http:\/\/127\.0\.0\.1:\d+\/v1\/messages/));
  });

  it('NO_PROXY and the proxy variables reach the CLI; nothing else of the bot does', () => {
    const env = buildEnv({ configDir: '/c', homeDir: '/h', maxRetries: 0 }, { HTTPS_PROXY: 'http://p:3128', NO_PROXY: 'gitlab.internal', no_proxy: 'gitlab.internal', GITLAB_TOKEN: 'x' });
    expect(env).toMatchObject({ HTTPS_PROXY: 'http://p:3128', NO_PROXY: 'gitlab.internal', no_proxy: 'gitlab.internal' });
    expect(env.GITLAB_TOKEN).toBeUndefined();
  });
});
