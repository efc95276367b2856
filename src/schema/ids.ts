/** The GraphQL type behind each id prefix. */
const TYPE_BY_PREFIX: Record<string, string> = {
  seg: 'Segment',
  sch: 'BaseSchema',
  key: 'ApiKey',
};

export function typenameOfId(id: string): string | undefined {
  const prefix = /^([a-z]+)_/.exec(id)?.[1];
  return prefix === undefined ? undefined : TYPE_BY_PREFIX[prefix];
}
