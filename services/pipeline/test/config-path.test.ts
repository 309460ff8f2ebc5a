import { describe, expect, it } from 'vitest';
import { locateConfig, resolveConfigPath } from '../src/index.js';

describe('resolveConfigPath', () => {
  it('prefers --config, then PULLBACK_CONFIG, then ./pullback.yaml', () => {
    const env = { PULLBACK_CONFIG: '/etc/pullback.yaml' };
    expect(resolveConfigPath('mine.yaml', env)).toBe('mine.yaml');
    expect(resolveConfigPath(undefined, env)).toBe('/etc/pullback.yaml');
    expect(resolveConfigPath(undefined, {})).toBe('pullback.yaml');
    expect(resolveConfigPath('', { PULLBACK_CONFIG: '' })).toBe('pullback.yaml');
  });

  it('says where the path came from', () => {
    expect(locateConfig('x.yaml', {}).source).toBe('flag');
    expect(locateConfig(undefined, { PULLBACK_CONFIG: 'y.yaml' }).source).toBe('env');
    expect(locateConfig(undefined, {}).source).toBe('default');
  });
});
