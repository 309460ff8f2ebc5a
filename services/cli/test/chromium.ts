import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium } from 'playwright-core';

/** Where a person can look at what the browser saw (git-ignored). */
export const TEST_OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));

/**
 * Debian's chromium, run headless as root: no sandbox, no GPU, nothing fetched from
 * the network; its profile (--user-data-dir) a fresh directory, which playwright
 * takes as launchPersistentContext's first argument.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A headless chromium with its profile in `scratch` (the test removes it). */
export function launchChromium(scratch: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(join(scratch, 'chromium-profile'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
  });
}
