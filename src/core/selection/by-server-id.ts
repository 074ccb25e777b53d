/** Code-unit order of server IDs: the same on every machine (localeCompare depends on the locale). */
export function byServerId(a: { readonly serverId: string }, b: { readonly serverId: string }): number {
  return a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : 0;
}
