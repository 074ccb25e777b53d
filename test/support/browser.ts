import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

// Real headless Chromium (Debian's package, driven by playwright-core; no browser download).
// Under CI=true a missing Chromium is a failure, never a skip; elsewhere the test skips loudly,
// as test/support/services.ts does for PostgreSQL.

export const CHROMIUM_PATH = process.env['TESSERA_TEST_CHROMIUM'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  // The admission chime must be able to play without a click, as it can once a user has
  // interacted with the site; the page's "play a sound" button covers the other case.
  '--autoplay-policy=no-user-gesture-required',
] as const;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when Chromium can be launched; otherwise skips (or, under CI=true, throws). */
export function requireChromium(t?: TestContext): boolean {
  if (executable(CHROMIUM_PATH)) return true;
  const message = `Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium, or set TESSERA_TEST_CHROMIUM)`;
  if (process.env['CI'] === 'true') throw new Error(`${message}; under CI=true the browser tests must run`);
  console.error(`\n!!! SKIPPING: ${message} !!!\n`);
  t?.skip(message);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], timeout: 30_000 });
}

/**
 * Collects what the page complains about: Content-Security-Policy violations and uncaught
 * errors. A test asserts the list is empty, so a policy that silently blocks the page's
 * script, its status fetch or its navigation fails the test instead of degrading the page.
 */
export function watchForPageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    const text = message.text();
    if (/content security policy|refused to (load|connect|execute|navigate|apply|frame)/i.test(text)) problems.push(`console ${message.type()}: ${text}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return problems;
}
