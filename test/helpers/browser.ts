/**
 * A real browser for the dashboard tests: Debian's Chromium (/usr/bin/chromium) driven by
 * playwright-core. No browser is downloaded; a missing one fails the test, saying how to
 * install it (.ci/run does).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where screenshots go (git-ignored): test-artifacts/ui/. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url));

export const LAPTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (own storage) with a page whose console errors and page errors are collected. */
  open(opts?: { viewport?: { width: number; height: number }; dark?: boolean }): Promise<WatchedPage>;
  close(): Promise<void>;
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught exceptions and failed requests seen so far. */
  errors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  assert.ok(
    existsSync(CHROMIUM),
    `No browser at ${CHROMIUM}: the dashboard tests need Debian's Chromium (apt-get install -y chromium; .ci/run installs it)`,
  );
  // launch() gives the browser a fresh profile in a temporary folder of its own, removed at close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async open(opts = {}) {
      const context = await browser.newContext({
        viewport: opts.viewport ?? LAPTOP,
        colorScheme: opts.dark ? 'dark' : 'light',
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
      page.on('requestfailed', (r) => {
        // Streams are aborted on purpose when a page is left.
        const why = r.failure()?.errorText ?? '';
        if (!why.includes('ERR_ABORTED')) errors.push(`request: ${r.url()} ${why}`);
      });
      return { page, context, errors, close: () => context.close() };
    },
    async close() {
      await browser.close();
    },
  };
}

/** Saves a screenshot as test-artifacts/ui/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}
