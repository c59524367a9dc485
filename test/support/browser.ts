// A real headless Chromium that comes with `npm ci` (@sparticuz/chromium ships it inside the npm package and
// extracts it to /tmp on first use), driven by playwright-core: no system browser, no download, works offline.
// If it cannot start, the test fails with the reason; it never skips.
import chromium from '@sparticuz/chromium';
import { chromium as playwright, type Browser } from 'playwright-core';

export async function launchBrowser(): Promise<Browser> {
  const executablePath = await chromium.executablePath();
  try {
    return await playwright.launch({
      executablePath,
      args: [...chromium.args, '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  } catch (e) {
    throw new Error(`headless Chromium (${executablePath}, from @sparticuz/chromium) did not start: ${(e as Error).message}`);
  }
}
