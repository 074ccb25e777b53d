import { Registry, collectDefaultMetrics } from 'prom-client';

// One Prometheus registry per server process, with Node's default process metrics. Each role
// registers its own counters on it; /metrics serves registry.metrics().

export function createMetricsRegistry(role: string, serverId: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role, server: serverId });
  collectDefaultMetrics({ register: registry });
  return registry;
}
