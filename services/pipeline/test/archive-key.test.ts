import { describe, expect, it } from 'vitest';
import { resolveArchiveKey } from '../src/config/archive-key.js';

describe('resolveArchiveKey', () => {
  const all = {
    keyFile: '/flag.key',
    env: { PULLBACK_KEY_FILE: '/env.key', PULLBACK_PASSWORD: 'pw' },
    configKeyFile: '/config.key',
  };

  it('takes --key-file, else PULLBACK_KEY_FILE, else PULLBACK_PASSWORD, else the config', () => {
    expect(resolveArchiveKey(all)).toEqual({ keyFile: '/flag.key' });
    expect(resolveArchiveKey({ ...all, keyFile: undefined })).toEqual({ keyFile: '/env.key' });
    expect(resolveArchiveKey({ ...all, keyFile: undefined, env: { PULLBACK_PASSWORD: 'pw' } })).toEqual({
      passphrase: 'pw',
    });
    expect(resolveArchiveKey({ env: {}, configKeyFile: '/config.key' })).toEqual({ keyFile: '/config.key' });
    expect(resolveArchiveKey({ env: {} })).toBeUndefined();
  });

  it('counts empty values as unset', () => {
    expect(
      resolveArchiveKey({
        keyFile: '',
        env: { PULLBACK_KEY_FILE: '', PULLBACK_PASSWORD: '' },
        configKeyFile: '/config.key',
      }),
    ).toEqual({ keyFile: '/config.key' });
  });
});
