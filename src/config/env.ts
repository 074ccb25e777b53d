// Reading settings from the environment, once, at start. A bad setting fails with a message
// that names it and says why.

export class ConfigError extends Error {
  constructor(setting: string, why: string) {
    super(`bad setting ${setting}: ${why}`);
    this.name = 'ConfigError';
  }
}

export function envString(env: NodeJS.ProcessEnv, name: string, fallback?: string): string {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback === undefined) throw new ConfigError(name, 'is required');
  return fallback;
}

export function envInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `"${raw}" is not an integer`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `${value} is outside ${min}..${max}`);
  return value;
}

export function envEnum<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(name, `"${raw}" is not one of ${allowed.join(', ')}`);
  return raw as T;
}

export function envUrl(env: NodeJS.ProcessEnv, name: string, fallback?: string): string {
  const value = envString(env, name, fallback);
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(name, `"${value}" is not an http(s) URL`);
  }
  return value.replace(/\/+$/, '');
}
