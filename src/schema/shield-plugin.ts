import { isObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { applyMiddleware, type IMiddleware } from 'graphql-middleware';
import { allow, deny, shield, type and, type IRules } from 'graphql-shield';
import SchemaBuilder, {
  BasePlugin,
  type FieldNullability,
  type InputFieldMap,
  type SchemaTypes,
  type TypeParam,
} from '@pothos/core';
import { forbiddenError } from './errors.js';

/* eslint-disable @typescript-eslint/no-unused-vars, @typescript-eslint/no-namespace -- Pothos extends its option types by declaration merging */
declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      shield: ShieldPlugin<Types>;
    }

    export interface FieldOptions<
      Types extends SchemaTypes = SchemaTypes,
      ParentShape = unknown,
      Type extends TypeParam<Types> = TypeParam<Types>,
      Nullable extends FieldNullability<Type> = FieldNullability<Type>,
      Args extends InputFieldMap = InputFieldMap,
      ResolveShape = unknown,
      ResolveReturnShape = unknown,
    > {
      /** The graphql-shield rule guarding this field. */
      shield?: ShieldRule;
    }

    export interface QueryFieldOptions<
      Types extends SchemaTypes,
      Type extends TypeParam<Types>,
      Nullable extends FieldNullability<Type>,
      Args extends InputFieldMap,
      ResolveReturnShape,
    > {
      shield: ShieldRule;
    }

    export interface MutationFieldOptions<
      Types extends SchemaTypes,
      Type extends TypeParam<Types>,
      Nullable extends FieldNullability<Type>,
      Args extends InputFieldMap,
      ResolveReturnShape,
    > {
      shield: ShieldRule;
    }
  }
}
/* eslint-enable @typescript-eslint/no-unused-vars */

/** A rule or a combination of rules (`and`, `or`, `chain`, ...). */
export type ShieldRule = Parameters<typeof and>[number];

const pluginName = 'shield';
const ROOT_TYPES = ['Query', 'Mutation', 'Subscription'];

/** Reads the rule declared on a field, if any. */
export function fieldRule(extensions: Record<string, unknown> | null | undefined): ShieldRule | undefined {
  return (extensions?.pothosOptions as { shield?: ShieldRule } | undefined)?.shield;
}

/** Options as the plugin's shield gives them. */
const SHIELD_OPTIONS: Parameters<ShieldRule['resolve']>[4] = {
  debug: false,
  allowExternalErrors: true,
  fallbackRule: allow,
  hashFunction: (value) => JSON.stringify(value),
};

/**
 * A rule's verdict for a request, as the shield middleware reaches it before
 * a resolver: `true`, or the error the request is refused with. For the
 * paths that answer an operation without executing it (the REST list, lists
 * written by PostgreSQL). Rules read the principal in the context only
 * (src/schema/rules.ts), so there is no resolve info to give.
 */
export function ruleVerdict(rule: ShieldRule, context: object): Promise<true | Error> {
  return ShieldPlugin.verdict(rule, context);
}

/**
 * graphql-shield with its rules declared on the Pothos fields they guard.
 *
 * Deny by default where it matters: a root field without a rule is refused.
 * Only the fields that carry a rule (and every root field) are wrapped, so
 * the resolvers of plain object fields run untouched: their objects are only
 * reachable through a guarded root field, and wrapping them costs time on
 * every field of every response.
 */
export class ShieldPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  /**
   * `ruleVerdict`: the rule evaluated with the request's rule cache, which
   * shield's middleware keeps on the context as `_shield` and creates there
   * when absent, as this does.
   */
  static async verdict(rule: ShieldRule, context: object): Promise<true | Error> {
    const shieldContext = context as Parameters<ShieldRule['resolve']>[2];
    shieldContext._shield ??= { cache: {} };
    let verdict: unknown;
    try {
      verdict = await rule.resolve({}, {}, shieldContext, undefined as unknown as GraphQLResolveInfo, SHIELD_OPTIONS);
    } catch (error) {
      verdict = error;
    }
    if (verdict === true) return true;
    return verdict instanceof Error ? verdict : forbiddenError();
  }

  override afterBuild(schema: GraphQLSchema): GraphQLSchema {
    const rules: IRules = {};
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      const isRoot = ROOT_TYPES.includes(type.name);
      const ruleMap: Record<string, ShieldRule> = isRoot ? { '*': deny } : {};
      for (const [fieldName, field] of Object.entries(type.getFields())) {
        const rule = fieldRule(field.extensions);
        if (rule) ruleMap[fieldName] = rule;
      }
      if (Object.keys(ruleMap).length > 0) rules[type.name] = ruleMap;
    }

    const generated = shield(rules, {
      allowExternalErrors: true,
      fallbackError: (thrown) => (thrown instanceof Error ? thrown : forbiddenError()),
    }).generate(schema) as Record<string, Record<string, unknown>>;

    // Keep the middleware of guarded fields only (shield would wrap all).
    const scoped: Record<string, Record<string, unknown>> = {};
    for (const [typeName, ruleMap] of Object.entries(rules)) {
      const fields = generated[typeName];
      if (!fields) continue;
      const guarded = ROOT_TYPES.includes(typeName) ? Object.keys(fields) : Object.keys(ruleMap as object);
      scoped[typeName] = Object.fromEntries(guarded.filter((f) => f in fields).map((f) => [f, fields[f]]));
    }
    return applyMiddleware(schema, scoped as IMiddleware);
  }
}

SchemaBuilder.registerPlugin(pluginName, ShieldPlugin);

export default pluginName;
