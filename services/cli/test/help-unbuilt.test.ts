import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * A command or option the command line reserves but does not run yet (it exits 2)
 * says so in its --help, and no example shows it as if it worked; once built, its
 * help says nothing of the kind.
 */
describe('--help of what is not built yet', () => {
  it('pullback import --help offers --activate as built, with examples', async () => {
    const result = await runCli(['import', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/not built yet/i);
    expect(result.stdout).toContain('--activate');
    expect(result.stdout).toContain('--force');
    expect(result.stdout.split('Examples:')[1] ?? '').toContain('pullback import shop-b --activate');
  });

  it('restore --help offers point-in-time targets as built, with examples', async () => {
    const result = await runCli(['restore', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/not built yet/i);
    for (const option of [
      '--at <TIME>',
      '--lsn <LSN>',
      '--name <RESTORE_POINT>',
      '--xid <XID>',
      '--promote',
    ]) {
      expect(result.stdout).toContain(option);
    }
    const examples = result.stdout.split('Examples:')[1] ?? '';
    expect(examples).toContain('--at ');
  });
});
