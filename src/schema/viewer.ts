import { builder } from './builder.js';
import type { Principal } from '../domain/keys.js';
import { isAuthenticated } from './rules.js';

const Role = builder.enumType('Role', { values: ['admin', 'editor', 'viewer'] as const });

const Viewer = builder.objectRef<Principal>('Viewer').implement({
  description: 'The caller, as its API key identifies it',
  fields: (t) => ({
    tenantId: t.exposeString('tenantId'),
    role: t.field({ type: Role, resolve: (p) => p.role }),
    keyId: t.exposeString('keyId'),
    keyName: t.exposeString('keyName', { nullable: true }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: Viewer,
    shield: isAuthenticated,
    description: 'Who you are: tenant, role and key',
    resolve: (_root, _args, ctx) => ctx.principal!,
  }),
);

export { Role };
