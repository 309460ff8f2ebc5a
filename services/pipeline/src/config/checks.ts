import { formatPath } from './describe.js';
import { checkComponentName } from './names.js';

/** One problem found in the config: where, and what is wrong. */
export interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/*
 * Checks that span several fields. They read the raw YAML data rather than zod's
 * output so that they report alongside type errors in one pass (zod skips
 * refinements once anything failed), and each check only looks at values of the
 * right type, so that one mistake is reported once and does not cascade (an
 * unknown role is reported by the schema, not also as "no active instance").
 */

const ROLES: ReadonlySet<unknown> = new Set(['active', 'fallback']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface RawInstance {
  readonly path: readonly PropertyKey[];
  readonly value: Record<string, unknown>;
}

/** Every problem that needs more than one field to see. */
export function crossFieldProblems(raw: unknown): Problem[] {
  if (!isRecord(raw)) return [];
  const problems: Problem[] = [];
  if (raw.agentToken !== undefined && raw.agentTokenFile !== undefined) {
    problems.push({ path: ['agentTokenFile'], message: 'give agentToken or agentTokenFile, not both' });
  }
  if (raw.dashboardToken !== undefined && raw.dashboardTokenFile !== undefined) {
    problems.push({
      path: ['dashboardTokenFile'],
      message: 'give dashboardToken or dashboardTokenFile, not both',
    });
  }
  if (!isRecord(raw.components)) return problems;
  const all: RawInstance[] = [];

  for (const [component, body] of Object.entries(raw.components)) {
    const componentPath = ['components', component];
    const nameProblem = checkComponentName(component);
    if (nameProblem !== undefined) problems.push({ path: componentPath, message: nameProblem });
    if (!isRecord(body) || !Array.isArray(body.instances)) continue;

    const instances: RawInstance[] = body.instances.flatMap((value: unknown, index) =>
      isRecord(value) ? [{ path: [...componentPath, 'instances', index], value }] : [],
    );
    all.push(...instances);
    problems.push(...activeProblems(component, body.recipe, instances, body.instances.length));
  }

  problems.push(...duplicateNameProblems(all), ...duplicateAddressProblems(all));
  return problems;
}

/**
 * A postgres component has exactly one active instance; a files component at
 * most one (the export runs next to it). Skipped while any role is invalid.
 */
function activeProblems(
  component: string,
  recipe: unknown,
  instances: readonly RawInstance[],
  listed: number,
): Problem[] {
  if (recipe !== 'postgres' && recipe !== 'files') return [];
  if (listed === 0 || instances.length !== listed) return [];
  if (!instances.every((instance) => ROLES.has(instance.value.role))) return [];

  const actives = instances.filter((instance) => instance.value.role === 'active');
  const [first, ...extra] = actives;
  if (first === undefined) {
    if (recipe !== 'postgres') return [];
    return [
      {
        path: ['components', component, 'instances'],
        message: 'no instance has role "active"; a postgres component needs exactly one',
      },
    ];
  }
  return extra.map((instance) => ({
    path: [...instance.path, 'role'],
    message: `a second active instance (also ${formatPath(first.path)}); a component has exactly one`,
  }));
}

/** Instance names are unique across the whole config: they name queues and archive paths. */
function duplicateNameProblems(instances: readonly RawInstance[]): Problem[] {
  const seen = new Map<string, readonly PropertyKey[]>();
  const problems: Problem[] = [];
  for (const instance of instances) {
    const name = instance.value.name;
    if (typeof name !== 'string') continue;
    const earlier = seen.get(name);
    if (earlier === undefined) seen.set(name, instance.path);
    else {
      problems.push({
        path: [...instance.path, 'name'],
        message: `duplicate instance name ${JSON.stringify(name)} (also at ${formatPath(earlier)})`,
      });
    }
  }
  return problems;
}

/** Two instances at one host and port are one server listed twice: failover to it would be no failover. */
function duplicateAddressProblems(instances: readonly RawInstance[]): Problem[] {
  const seen = new Map<string, readonly PropertyKey[]>();
  const problems: Problem[] = [];
  for (const instance of instances) {
    const { host, port } = instance.value;
    if (typeof host !== 'string' || !Number.isInteger(port)) continue;
    const address = `${host}:${String(port)}`;
    const earlier = seen.get(address);
    if (earlier === undefined) seen.set(address, instance.path);
    else {
      problems.push({
        path: [...instance.path, 'port'],
        message: `same host and port as ${formatPath(earlier)} (${address})`,
      });
    }
  }
  return problems;
}
