import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '@pullback/pipeline';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const docker = join(root, 'docker');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
}

const compose = parse(readFileSync(join(docker, 'compose.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};

describe('docker/compose.yaml', () => {
  it('runs PostgreSQL, Redis, MinIO and Pullback', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['db', 'redis', 'minio', 'pullback']),
    );
  });

  it('runs Redis with AOF and noeviction, as BullMQ requires', () => {
    const command = compose.services.redis?.command?.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
  });

  it('only depends on services and mounts volumes that it defines', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        expect(compose.services, `${name} depends on ${dependency}`).toHaveProperty(dependency);
      }
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.'))
          expect(existsSync(join(docker, source)), `${name} mounts ${source}`).toBe(true);
        else expect(compose.volumes, `${name} mounts volume ${source}`).toHaveProperty(source);
      }
    }
  });

  it('builds the Pullback image from docker/Dockerfile and points it at S3 through AWS_ENDPOINT_URL', () => {
    const pullback = compose.services.pullback!;
    expect(existsSync(join(docker, pullback.build!.context, pullback.build!.dockerfile))).toBe(true);
    expect(pullback.environment?.AWS_ENDPOINT_URL).toBe('http://minio:9000');
    expect(pullback.command).toEqual(['up', '--config', '/etc/pullback/pullback.yaml']);
  });

  it('mounts a config that `pullback config check` accepts', () => {
    const text = readFileSync(join(docker, 'pullback.yaml'), 'utf8');
    const config = parseConfig(text, 'docker/pullback.yaml');
    expect(config.archive.url).toMatch(/^s3:\/\//);
  });
});

describe('docker/Dockerfile', () => {
  const dockerfile = readFileSync(join(docker, 'Dockerfile'), 'utf8');

  it('copies only paths that exist in the repository', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) =>
      match[1]!.split(' '),
    );
    expect(copies.length).toBeGreaterThan(0);
    for (const source of copies) expect(existsSync(join(root, source)), source).toBe(true);
  });

  it('runs as the postgres user, since PostgreSQL refuses root', () => {
    expect(dockerfile).toMatch(/^USER postgres$/m);
    expect(dockerfile).toMatch(
      /^ENTRYPOINT \["node", "--max-semi-space-size=2", "\/opt\/pullback\/bin\/pullback.js"\]$/m,
    );
  });

  it('builds on the Node.js major the project supports', () => {
    const engines = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node as string;
    const major = /ARG NODE_VERSION=(\d+)/.exec(dockerfile)?.[1];
    expect(engines).toContain(`>=${major}`);
  });
});
