import { readFile } from 'node:fs/promises';
import { execute, isObjectType, parse } from 'graphql';
import SchemaBuilder from '@pothos/core';
import { describe, expect, it } from 'vitest';
import { buildSchema, printedSchema } from '../../src/schema/index.js';
import ShieldPlugin, { fieldRule } from '../../src/schema/shield-plugin.js';
import { canRead } from '../../src/schema/rules.js';

describe('graphql-shield rules', () => {
  it('every root field of the built schema declares a rule', () => {
    const schema = buildSchema();
    const unguarded: string[] = [];
    for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
      if (!root) continue;
      for (const [name, field] of Object.entries(root.getFields())) {
        if (!fieldRule(field.extensions)) unguarded.push(`${root.name}.${name}`);
      }
    }
    expect(unguarded).toEqual([]);
    expect(Object.keys(schema.getQueryType()!.getFields()).length).toBeGreaterThan(0);
  });

  it('a root field without a rule is refused as FORBIDDEN, not run', async () => {
    let ran = false;
    const builder = new SchemaBuilder<{ Context: { principal: { role: string } | null } }>({ plugins: [ShieldPlugin] });
    builder.queryType({
      fields: (t) => ({
        guarded: t.string({ shield: canRead, resolve: () => 'ok' }),
        // The plugin's types require a rule on query fields; this one is left out on purpose.
        forgotten: t.string({ resolve: () => ((ran = true), 'leaked') } as never),
      }),
    });
    const schema = builder.toSchema();
    const result = await execute({
      schema,
      document: parse('{ guarded forgotten }'),
      contextValue: { principal: { role: 'viewer' } },
    });
    expect(result.data).toEqual({ guarded: 'ok', forgotten: null });
    expect(ran).toBe(false);
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]?.path).toEqual(['forgotten']);
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('object fields with no rule are not wrapped by shield', () => {
    const schema = buildSchema();
    const viewer = schema.getType('Viewer');
    expect(isObjectType(viewer)).toBe(true);
    if (!isObjectType(viewer)) return;
    // Field resolvers of unguarded types stay the plain ones Pothos made.
    expect(String(viewer.getFields().role!.resolve)).not.toMatch(/middleware|shield/);
  });
});

describe('schema.graphql', () => {
  it('matches the schema built from the code (run `npm run schema:print` after changing it)', async () => {
    const checkedIn = await readFile(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(checkedIn).toBe(printedSchema());
  });
});
