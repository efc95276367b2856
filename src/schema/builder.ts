import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ShieldPlugin from './shield-plugin.js';
import type { GraphQLContext } from './context.js';
import { isAuthenticated } from './rules.js';
import { typenameOfId } from './ids.js';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: {
    ID: { Input: string; Output: string };
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date | string };
  };
}>({
  plugins: [ShieldPlugin, RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Global ids are the prefixed ids REST clients already hold (seg_..., sch_...).
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => ({ typename: typenameOfId(globalID) ?? '', id: globalID }),
    nodeQueryOptions: { shield: isAuthenticated },
    nodesQueryOptions: { shield: isAuthenticated },
  },
});

builder.queryType({});
builder.mutationType({});
