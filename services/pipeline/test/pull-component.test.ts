import { describe, expect, it } from 'vitest';
import { parseConfig, pullComponent } from '../src/index.js';

const config = parseConfig(`
redis: redis://127.0.0.1:6379
archive: { url: /tmp/archive }
components:
  docs:
    recipe: files
    path: /srv/docs
    outbox: /srv/outbox
`);

describe('a pull job checked against the config', () => {
  it("names its component's config when the component and its outbox are the config's", () => {
    const job = { component: 'docs', epoch: 1, exportId: 'e1', outbox: '/srv/outbox' };
    expect(pullComponent(config, job)).toBe(config.components.docs);
  });

  it('is refused for good as an outbox mismatch, not a corrupt artifact, when it names another outbox', () => {
    const job = { component: 'docs', epoch: 1, exportId: 'e1', outbox: '/elsewhere' };
    expect(() => pullComponent(config, job)).toThrow(
      expect.objectContaining({
        code: 'outbox-mismatch',
        permanent: true,
        message:
          "pull of e1 of docs: outbox /elsewhere is not the component's (/srv/outbox); the job was queued for another outbox",
        hint: "if the config's outbox changed since the export, run a new export",
      }),
    );
  });

  it('is refused for good when its component is not in the config', () => {
    const job = { component: 'shop', epoch: 1, exportId: 'e1', outbox: '/srv/outbox' };
    expect(() => pullComponent(config, job)).toThrow(
      expect.objectContaining({ code: 'unknown-component', permanent: true }),
    );
  });
});
