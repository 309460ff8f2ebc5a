import { knownSecrets, type SecretHolder, textRedactor } from '@pullback/pipeline/redact';

/** The secrets of the config(s) this process loaded (config-source.ts remembers them). */
const remembered = new Set<string>();

/** Remembers `config`'s secrets, so that no error this process prints shows them. */
export function rememberSecrets(config: SecretHolder, env: NodeJS.ProcessEnv): void {
  for (const secret of knownSecrets(config, env)) remembered.add(secret);
}

/** What this process must never print: the environment's secrets, the config's, and `extra`. */
export function processSecrets(env: NodeJS.ProcessEnv, extra: readonly string[] = []): string[] {
  return [...new Set([...knownSecrets({ redis: '' }, env, extra), ...remembered])];
}

/** `text` with every secret this process knows, and URLs' passwords, replaced by `***`. */
export function redactForProcess(text: string, env: NodeJS.ProcessEnv): string {
  return textRedactor(processSecrets(env))(text);
}
