import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/**
 * A command or option the command line reserves but does not run yet (it exits 2)
 * says so in its --help, and no example shows it as if it worked.
 */
describe('--help of what is not built yet', () => {
  it.each([
    [['restore', '--help'], /--at <TIME>[\s\S]*not built yet/],
    [['import', '--help'], /not built yet/i],
  ])('pullback %j says it is not built yet', async (args, expected) => {
    const result = await runCli(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(expected);
  });

  it('restore --help shows no example with --at', async () => {
    const examples = (await runCli(['restore', '--help'])).stdout.split('Examples:')[1] ?? '';
    expect(examples).not.toContain('--at');
  });
});
