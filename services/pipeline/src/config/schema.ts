import { isAbsolute } from 'node:path';
import {
  COUNT_FIELDS,
  DURATION_HELP,
  parseDuration,
  type RetentionCountField,
  type RetentionPolicy,
  RetentionPolicyError,
} from '@pullback/archive/retention';
import { z } from 'zod';
import { describeValue } from './describe.js';
import { electionSchema } from './election-schema.js';
import { integer } from './integer.js';
import { checkLocation } from './location.js';
import { checkName } from './names.js';
import { redisSchema, sentinelAddressSchema, sentinelSchema } from './redis-schema.js';
import { checkSchedule, DEFAULT_SCHEDULE } from './schedule.js';

/*
 * The schema of pullback.yaml. Its keys are the public contract (docs/architecture.md,
 * "Config file"): every object is strict, so a misspelt key is an error rather
 * than a silently ignored setting. Checks that span several fields (unique names,
 * one active per component) are in checks.ts.
 */

/** A string checked by `check`, which returns what is wrong or undefined. */
function checkedString(check: (text: string) => string | undefined) {
  // No `.min(1)` here: each check words the empty case itself, and zod would
  // otherwise report both.
  return z.string().superRefine((text, ctx) => {
    const problem = check(text);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: text });
  });
}

const count = () => integer().min(0);

const name = checkedString(checkName);
const location = checkedString(checkLocation);

/**
 * A `keepWithin` span, checked by the archive's own parser (the one `forget` applies),
 * so the config accepts exactly the spans retention can use.
 */
const duration = z
  // A number (`keepWithin: 7`) is a span without its unit: say what a span looks like.
  .string({ error: (issue) => `expected ${DURATION_HELP}, got ${describeValue(issue.input)}` })
  .superRefine((text, ctx) => {
    try {
      parseDuration(text);
    } catch (error) {
      if (!(error instanceof RetentionPolicyError)) throw error;
      ctx.addIssue({ code: 'custom', message: `expected ${DURATION_HELP}, got ${JSON.stringify(text)}` });
    }
  });

/**
 * Which snapshots `forget` keeps: the archive's `RetentionPolicy`, one optional key
 * per rule (documented there). With no rule at all, every snapshot is kept.
 */
export const retentionSchema = z.strictObject({
  ...(Object.fromEntries(Object.values(COUNT_FIELDS).map((field) => [field, count().optional()])) as Record<
    RetentionCountField,
    z.ZodOptional<ReturnType<typeof count>>
  >),
  keepWithin: duration.optional(),
}) satisfies z.ZodType<RetentionPolicy>;

/** The instance's agent's HTTP endpoints (docs/election.md "Health endpoints"). */
export const agentSchema = z.strictObject({
  port: integer().min(1).max(65535),
  /** The address it listens on, and other Pullback processes reach it at. Default: the instance's `host`. */
  host: z.string().min(1).optional(),
});

/** `pullback up`'s HTTP server: `/metrics` and the dashboard (docs/observability.md). */
export const httpSchema = z.strictObject({
  port: integer().min(1).max(65535),
  /** The address it listens on. Default: 127.0.0.1; 0.0.0.0 shows it to the network. */
  host: z.string().min(1).default('127.0.0.1'),
});

/** One server of a component. */
export const instanceSchema = z.strictObject({
  /** Unique across the whole config, e.g. "shop-a". */
  name,
  /** The initial role; the live role and epoch are kept in Redis and on the instance. */
  role: z.enum(['active', 'fallback']),
  host: z.string().min(1),
  port: integer().min(1).max(65535),
  /** The PostgreSQL data directory on that host. */
  dataDir: z.string().min(1),
  /** Preference among equally fresh fallbacks, higher first; 0 = never activated automatically. */
  priority: count(),
  /** Its agent (`pullback up --instance NAME`). Default: none, so no agent serves it. */
  agent: agentSchema.optional(),
  /**
   * Where an import puts tablespaces on this host: the active's location to this
   * instance's, both absolute. Default: none, so each goes where it was on the active.
   */
  tablespaces: z
    .record(
      z.string().refine((path) => isAbsolute(path), 'expected an absolute path'),
      z.string().refine((path) => isAbsolute(path), 'expected an absolute path'),
    )
    .optional(),
});

/** What every recipe shares. */
const componentFields = {
  /** When exports run (cron, 5 fields). Default: hourly, "0 * * * *". */
  schedule: checkedString(checkSchedule).default(DEFAULT_SCHEDULE),
  /** Default: no rule, so nothing is forgotten. */
  retention: retentionSchema.default({}),
  /** The export's staging area: a path, file:///path or s3://bucket/prefix. */
  outbox: location,
};

/**
 * Continuous WAL of a postgres component (docs/wal.md): streamed from the active by
 * one receiver on the pull side, into the archive.
 */
export const walSchema = z.strictObject({
  /** Stream WAL into the archive. Default: true. */
  enabled: z.boolean().default(true),
  /**
   * The receiver is a synchronous standby of the active: a commit returns once its WAL
   * is durable on the pull side. Default: false.
   */
  synchronous: z.boolean().default(false),
  /** The physical replication slot on the active. Default: `pullback_<component>` (dashes as underscores). */
  slot: checkedString(checkSlotName).optional(),
  /**
   * Segment files each fallback's agent keeps written in its spool, to write the WAL it
   * fetches from the archive into, rather than new files (docs/wal.md, "Fallbacks"):
   * 32 take 512 MiB of the fallback's disk. Default: 0, none.
   */
  spares: z.number().int().min(0).max(1024).default(0),
});

/** A replication slot name as PostgreSQL accepts it. */
function checkSlotName(text: string): string | undefined {
  return /^[a-z0-9_]{1,63}$/.test(text)
    ? undefined
    : `expected lower-case letters, digits and underscores (at most 63), got ${JSON.stringify(text)}`;
}

/**
 * The PgBouncer hook (docs/election.md "Clients follow"): on every activation, the
 * database's entry in the ini's `[databases]` is pointed at the new active and PgBouncer
 * reloads it. Run by the process that activates, so the ini is on its host.
 */
export const pgbouncerSchema = z
  .strictObject({
    /** PgBouncer's config file, e.g. /etc/pgbouncer/pgbouncer.ini. */
    ini: z.string().min(1),
    /** The entry in `[databases]` to rewrite. Default: the component's name. */
    database: z.string().min(1).optional(),
    /** `admin`: RELOAD on its admin console, which answers once it re-read the ini; `sighup`: kill -HUP of its pidfile's process. Default: admin. */
    reload: z.enum(['admin', 'sighup']).default('admin'),
    /** The admin console, for `reload: admin`. Defaults: 127.0.0.1 (or a socket directory), the ini's listen_port, user pgbouncer. */
    admin: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: integer().min(1).max(65535).optional(),
        user: z.string().min(1).default('pgbouncer'),
      })
      .optional(),
    /** For `reload: sighup`. Default: the ini's `pidfile`. */
    pidFile: z.string().min(1).optional(),
  })
  .superRefine((hook, ctx) => {
    const unused = hook.reload === 'admin' ? 'pidFile' : 'admin';
    if (hook[unused] !== undefined)
      ctx.addIssue({ code: 'custom', path: [unused], message: `is not used with reload: ${hook.reload}` });
  });

/** Physical exports of a postgres component (docs/exports.md, "The agent's own export"). */
export const physicalSchema = z.strictObject({
  /**
   * The export agent takes the backup itself when it can read the active's data
   * directory (incremental between full reads, page checksums verified); elsewhere,
   * pg_basebackup. Unset (the default): that, falling back to pg_basebackup quietly;
   * true: the same, with a warning each time it falls back; false: always pg_basebackup.
   */
  ownBackup: z.boolean().optional(),
  /** How often the agent's own backup reads everything; incremental exports between. Default: 7d. */
  fullReadEvery: duration.default('7d'),
});

/**
 * Logical exports of a postgres component (`pg_dump` per database and the globals),
 * beside its physical ones (docs/exports.md "Logical exports users ask for").
 */
export const logicalSchema = z.strictObject({
  /** When logical exports run (cron, as `schedule`). */
  schedule: checkedString(checkSchedule),
  /** The databases dumped. Default: every database that accepts connections, except templates. */
  databases: z
    .array(z.string().min(1))
    .min(1, { error: 'name at least one database, or leave the key out for every database' })
    .optional(),
});

export const postgresComponentSchema = z.strictObject({
  recipe: z.literal('postgres'),
  ...componentFields,
  physical: physicalSchema.default({ fullReadEvery: '7d' }),
  wal: walSchema.default({ enabled: true, synchronous: false, spares: 0 }),
  /** A logical export schedule beside the physical one. Default: none (logical exports only on request). */
  logical: logicalSchema.optional(),
  /**
   * A STONITH hook run by `/bin/sh -c` before a fallback is promoted, the old active's
   * name, host and port in its environment; a non-zero exit aborts the activation
   * (docs/election.md "Activation"). Default: none.
   */
  fence: z.string().min(1).optional(),
  /** Clients that connect through PgBouncer follow the active. Default: none. */
  pgbouncer: pgbouncerSchema.optional(),
  /** Exactly one starts active (checked in checks.ts). */
  instances: z.array(instanceSchema).min(1, { error: 'a postgres component needs at least one instance' }),
});

export const filesComponentSchema = z.strictObject({
  recipe: z.literal('files'),
  /** The directory tree to back up. */
  path: z
    .string({
      error: (issue) =>
        issue.input === undefined ? 'required for recipe "files": the directory to back up' : undefined,
    })
    .min(1),
  ...componentFields,
  /** Optional for files: without one, the export runs wherever `pullback up` runs. */
  instances: z.array(instanceSchema).default([]),
});

export const componentSchema = z.discriminatedUnion('recipe', [
  postgresComponentSchema,
  filesComponentSchema,
]);

export const configSchema = z.strictObject({
  /**
   * BullMQ's Redis: coordination only, never history. A redis:// URL, or the Sentinel
   * form (`{ sentinels, name, ... }`, see redis-schema.ts) for a Redis that fails over.
   */
  redis: redisSchema,
  archive: z.strictObject({
    /** A path, file:///path or s3://bucket/prefix. */
    url: location,
    /** The file holding the archive key, last in the order of resolveArchiveKey (archive-key.ts). */
    keyFile: z.string().min(1).optional(),
  }),
  /**
   * Where this machine keeps its working state (the WAL receiver's spool), on a disk
   * that survives a restart. Default: /var/lib/pullback.
   */
  stateDir: z.string().min(1).default('/var/lib/pullback'),
  /**
   * The bearer token of the agents' POST endpoints (docs/election.md), at least 16
   * characters; or `agentTokenFile`, the file holding it (not both). Its messages never
   * show the value: it is a secret.
   */
  agentToken: z
    .string({ error: 'must be a string of at least 16 characters' })
    .min(16, { error: 'must be at least 16 characters' })
    .optional(),
  agentTokenFile: z.string().min(1).optional(),
  /**
   * The token that logs in to the dashboard's takeover actions (docs/observability.md
   * "Takeover from the page"), at least 16 characters; or `dashboardTokenFile`, the file
   * holding it (not both). Without either, the page is read-only. A secret, as agentToken.
   */
  dashboardToken: z
    .string({ error: 'must be a string of at least 16 characters' })
    .min(16, { error: 'must be at least 16 characters' })
    .optional(),
  dashboardTokenFile: z.string().min(1).optional(),
  /** The election's timings and lag limit (election-schema.ts). Default: docs/election.md "Defaults". */
  election: electionSchema.optional(),
  /** `pullback up` serves `/metrics` and the dashboard here. Default: no HTTP server (agents serve theirs). */
  http: httpSchema.optional(),
  /** Keyed by component name. */
  components: z.record(z.string(), componentSchema),
});

/** A loaded, validated pullback.yaml with defaults applied. */
export type Config = z.output<typeof configSchema>;
/** The config file's `archive` section (not the archive's own config object, `@pullback/archive`'s ArchiveConfig). */
export type ArchiveSection = Config['archive'];
export type ComponentConfig = z.output<typeof componentSchema>;
export type PostgresComponentConfig = z.output<typeof postgresComponentSchema>;
export type FilesComponentConfig = z.output<typeof filesComponentSchema>;
export type WalConfig = z.output<typeof walSchema>;
export type LogicalConfig = z.output<typeof logicalSchema>;
export type InstanceConfig = z.output<typeof instanceSchema>;
export type InstanceRole = InstanceConfig['role'];
export type AgentConfig = z.output<typeof agentSchema>;
export type PgBouncerConfig = z.output<typeof pgbouncerSchema>;
export type HttpConfig = z.output<typeof httpSchema>;

/** Every key the contract knows, for "did you mean" hints on unknown keys. */
export const KNOWN_KEYS: readonly string[] = [
  ...Object.keys(configSchema.shape),
  ...Object.keys(configSchema.shape.archive.shape),
  ...Object.keys(sentinelSchema.shape),
  ...Object.keys(sentinelAddressSchema.shape),
  ...Object.keys(filesComponentSchema.shape),
  ...Object.keys(retentionSchema.shape),
  ...Object.keys(instanceSchema.shape),
  ...Object.keys(postgresComponentSchema.shape),
  ...Object.keys(walSchema.shape),
  ...Object.keys(logicalSchema.shape),
  ...Object.keys(agentSchema.shape),
  ...Object.keys(pgbouncerSchema.shape),
  'user',
  ...Object.keys(electionSchema.shape),
  ...Object.keys(httpSchema.shape),
];
