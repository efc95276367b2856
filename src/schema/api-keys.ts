import { builder } from './builder.js';
import { listApiKeys, mintApiKey, revokeApiKey, type ApiKeyInfo } from '../domain/keys.js';
import { tenantOf } from './context.js';
import { isAdmin } from './rules.js';
import { Role } from './viewer.js';

const ApiKey = builder.objectRef<ApiKeyInfo>('ApiKey').implement({
  description: 'An API key of the tenant. The key itself is shown once, when it is created.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name', { nullable: true }),
    role: t.field({ type: Role, resolve: (k) => k.role }),
    prefix: t.exposeString('prefix', { description: 'The first characters of the key' }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.createdAt }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.lastUsedAt }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revokedAt }),
  }),
});

builder.queryField('apiKeys', (t) =>
  t.field({
    type: [ApiKey],
    shield: isAdmin,
    description: "The tenant's API keys, revoked ones included",
    resolve: (_root, _args, ctx) => listApiKeys(ctx.services.database.db, tenantOf(ctx).id),
  }),
);

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    role: t.field({ type: Role, required: true }),
    name: t.string({ required: false }),
  }),
});

const CreateApiKeyPayload = builder
  .objectRef<{ key: string; apiKey: ApiKeyInfo }>('CreateApiKeyPayload')
  .implement({
    fields: (t) => ({
      key: t.exposeString('key', { description: 'The new key. It is not stored and cannot be shown again.' }),
      apiKey: t.field({ type: ApiKey, resolve: (p) => p.apiKey }),
    }),
  });

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreateApiKeyPayload,
    shield: isAdmin,
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { key, info } = await mintApiKey(ctx.services.database.db, ctx.services.authSecret, {
        tenantId: tenantOf(ctx).id,
        role: input.role,
        name: input.name ?? null,
      });
      return { key, apiKey: info };
    },
  }),
);

const RevokeApiKeyPayload = builder.objectRef<{ apiKey: ApiKeyInfo }>('RevokeApiKeyPayload').implement({
  fields: (t) => ({ apiKey: t.field({ type: ApiKey, resolve: (p) => p.apiKey }) }),
});

builder.mutationField('revokeApiKey', (t) =>
  t.field({
    type: RevokeApiKeyPayload,
    shield: isAdmin,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const apiKey = await revokeApiKey(ctx.services.database.db, id, tenantOf(ctx).id);
      ctx.services.keys.forget(apiKey.id);
      return { apiKey };
    },
  }),
);
