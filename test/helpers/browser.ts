/**
 * Headless Chromium for tests that look at the Temporal Web UI. It uses playwright-core with the system
 * browser at /usr/bin/chromium (installed by scripts/setup-browser.sh; playwright never downloads one),
 * a fresh temporary profile per launch, and flags that keep the browser off the network except for the
 * pages a test opens. Whoever launches a session closes it: `withBrowser` does so itself, and
 * `launchBrowser` callers call `close()` in their teardown. Closing also deletes the profile directory.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Why browser tests cannot run here, or undefined when they can. A missing browser is a reason to skip
 * only when `JOBLEDGER_REQUIRE_BROWSER` is unset; with it set, the test runs and fails at launch.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  if (process.env.JOBLEDGER_REQUIRE_BROWSER) return undefined;
  return `${CHROMIUM_PATH} is not installed (run scripts/setup-browser.sh; set JOBLEDGER_REQUIRE_BROWSER=1 to fail instead of skipping)`;
}

export interface BrowserSession {
  context: BrowserContext;
  /** A new tab with the given viewport (default 1600x1000). */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  /** Closes the browser and removes its profile directory. Safe to call twice. */
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: run scripts/setup-browser.sh`);
  const profile = mkdtempSync(join(tmpdir(), 'jobledger-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1600, height: 1000 },
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    context,
    newPage: async (viewport = { width: 1600, height: 1000 }) => {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      return page;
    },
    close: () => {
      closed ??= context.close().finally(() => rmSync(profile, { recursive: true, force: true }));
      return closed;
    },
  };
}

/** Runs `fn` with a fresh browser and always closes it afterwards. */
export async function withBrowser<T>(fn: (session: BrowserSession) => Promise<T>): Promise<T> {
  const session = await launchBrowser();
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** Saves a full-page screenshot, creating the directory first; returns the path. */
export async function screenshot(page: Page, path: string): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  return path;
}
