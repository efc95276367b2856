import {
  coerceInputValue,
  isNonNullType,
  Kind,
  TypeInfo,
  typeFromAST,
  validate,
  visit,
  visitWithTypeInfo,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { deny } from 'graphql-shield';
import type { ErrorDetail } from '../domain/errors.js';
import type { GraphQLContext } from '../schema/context.js';
import { fieldRule, ruleVerdict, type ShieldRule } from '../schema/shield-plugin.js';
import { messageOf, restErrorOf, restPath, RestError } from './errors.js';
import { REST_OPERATIONS, type RestOperation } from './operations.js';
import { withoutSuggestions } from '../server/graphql-guards.js';

type CompiledOperation = (
  variables: Record<string, unknown>,
  context: GraphQLContext,
) => ExecutionResult | Promise<ExecutionResult>;

interface PreparedVariable {
  name: string;
  type: GraphQLInputType;
  hasDefault: boolean;
}

/** Runs the REST operations on one executable schema: its resolvers, its shield rules, its dataloaders. */
export interface GraphQLRunner {
  /** The operation's `data`; the first error, mapped for REST, is thrown. */
  run<T>(operation: RestOperation, variables: Record<string, unknown>, context: GraphQLContext): Promise<T>;
  /**
   * The shield rule a field of the schema declares, as a check for the two
   * routes that stream rather than execute a field (CSV rows in, rows out).
   */
  ruleOf(typeName: 'Query' | 'Mutation', fieldName: string): (context: GraphQLContext) => Promise<void>;
  /**
   * What executing `operation` checks before a resolver runs, for a route
   * that answers the operation's data by other means: its variables, refused
   * as `run` refuses them, then the shield rules of its root fields.
   */
  check(operation: RestOperation, variables: Record<string, unknown>, context: GraphQLContext): Promise<void>;
}

/**
 * Validates every REST operation against `schema` (a schema that no longer
 * fits a route fails here, at startup, not on a request) and prepares the
 * types of their variables.
 */
export function createGraphQLRunner(schema: GraphQLSchema): GraphQLRunner {
  const prepared = new Map<RestOperation, PreparedVariable[]>();
  for (const operation of REST_OPERATIONS) {
    const errors = validate(schema, operation.document);
    if (errors.length > 0) {
      throw new Error(
        `REST operation ${operation.name} does not fit the schema: ${errors.map((e) => e.message).join('; ')}`,
      );
    }
    prepared.set(operation, variablesOf(schema, operation));
  }

  const compiled = new Map<RestOperation, CompiledOperation>();
  /** Each operation is compiled (graphql-jit) on its first use: a start does not pay for routes nobody calls. */
  const compiledOf = (operation: RestOperation): CompiledOperation => {
    let run = compiled.get(operation);
    if (!run) {
      const query = compileQuery(schema, operation.document, operation.name);
      if (!isCompiledQuery(query)) {
        throw new Error(`REST operation ${operation.name} does not compile: ${query.errors?.map((e) => e.message).join('; ')}`);
      }
      run = (variables, context) => query.query(undefined, context, variables);
      compiled.set(operation, run);
    }
    return run;
  };

  /** The variables of `operation`, refused with REST paths when they would not coerce. */
  const checkVariables = (operation: RestOperation, variables: Record<string, unknown>, context: GraphQLContext) => {
    const definitions = prepared.get(operation);
    if (!definitions) throw new Error(`REST operation ${operation.name} was not prepared`);
    // Hints name fields the caller did not send: admins only, as on /graphql.
    refuseUncoercible(definitions, variables, operation, context.principal?.role === 'admin');
  };

  const ruleOf: GraphQLRunner['ruleOf'] = (typeName, fieldName) => {
    const type = typeName === 'Query' ? schema.getQueryType() : schema.getMutationType();
    const field = type?.getFields()[fieldName];
    if (!field) throw new Error(`${typeName}.${fieldName} is not in the schema`);
    // Deny by default, as the shield plugin does for root fields.
    const rule: ShieldRule = fieldRule(field.extensions) ?? deny;
    return (context) => enforce(rule, context);
  };

  /**
   * The rules of each operation's root fields, as the schema declares them
   * now, and the fields below them that declare a rule of their own: an
   * operation with any cannot be checked without running it.
   */
  const rootRules = new Map<RestOperation, Array<(context: GraphQLContext) => Promise<void>>>();
  const nestedRules = new Map<RestOperation, string[]>();
  for (const operation of REST_OPERATIONS) {
    const definition = operationOf(operation);
    const typeName = definition.operation === 'mutation' ? 'Mutation' : 'Query';
    const rules = definition.selectionSet.selections.map((selection) => {
      if (selection.kind !== Kind.FIELD) throw new Error(`REST operation ${operation.name}: root fields only`);
      return ruleOf(typeName, selection.name.value);
    });
    rootRules.set(operation, rules);
    nestedRules.set(operation, fieldsWithRules(schema, operation));
  }

  return {
    async run<T>(operation: RestOperation, variables: Record<string, unknown>, context: GraphQLContext): Promise<T> {
      checkVariables(operation, variables, context);
      // Absent stays absent (an undefined variable would reach resolvers as null).
      const given = Object.fromEntries(Object.entries(variables).filter(([, value]) => value !== undefined));
      const result = await compiledOf(operation)(given, context);
      const first = result.errors?.[0];
      if (first) throw restErrorOf(first, operation.names);
      return result.data as T;
    },

    ruleOf,

    async check(operation, variables, context) {
      const guarded = nestedRules.get(operation) ?? [];
      if (guarded.length > 0) {
        throw new Error(`REST operation ${operation.name} selects fields with rules of their own (${guarded.join(', ')}): run it`);
      }
      checkVariables(operation, variables, context);
      for (const enforceRule of rootRules.get(operation) ?? []) await enforceRule(context);
    },
  };
}

function operationOf(operation: RestOperation): OperationDefinitionNode {
  const definition = operation.document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  if (!definition) throw new Error(`REST operation ${operation.name} has no operation`);
  return definition;
}

/** `Type.field` of every field below the root fields of `operation` that declares a shield rule. */
function fieldsWithRules(schema: GraphQLSchema, operation: RestOperation): string[] {
  const found: string[] = [];
  const typeInfo = new TypeInfo(schema);
  visit(
    operation.document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        const isRoot = parent === schema.getQueryType() || parent === schema.getMutationType();
        if (!isRoot && parent && field && fieldRule(field.extensions)) found.push(`${parent.name}.${field.name}`);
      },
    }),
  );
  return found;
}

function variablesOf(schema: GraphQLSchema, operation: RestOperation): PreparedVariable[] {
  return (operationOf(operation).variableDefinitions ?? []).map((v) => ({
    name: v.variable.name.value,
    // Validation has checked that every variable has an input type of the schema.
    type: typeFromAST(schema, v.type) as GraphQLInputType,
    hasDefault: v.defaultValue !== undefined,
  }));
}

/**
 * GraphQL coerces variables before any resolver runs and reports a bad one as
 * `Variable "$input" got invalid value ... at "input.status"`. Coercing them
 * here first, with the same graphql-js function and the same types, gives the
 * paths as data, under the names the client sent (`status`, `fields[1].dataType`).
 */
function refuseUncoercible(
  definitions: PreparedVariable[],
  variables: Record<string, unknown>,
  operation: RestOperation,
  showSuggestions: boolean,
) {
  const details: ErrorDetail[] = [];
  for (const { name, type, hasDefault } of definitions) {
    const prefix = operation.names[name] ?? name;
    const value = variables[name];
    if (value === undefined) {
      if (isNonNullType(type) && !hasDefault) details.push({ path: prefix || 'body', message: 'is required' });
      continue;
    }
    coerceInputValue(value, type, (path, _invalid, error) => {
      const detail = coercionDetail(prefix, path, error);
      details.push(showSuggestions ? detail : { ...detail, message: withoutSuggestions(detail.message) });
    });
  }
  if (details.length > 0) throw new RestError('BAD_USER_INPUT', messageOf(details), details);
}

function coercionDetail(prefix: string, path: ReadonlyArray<string | number>, error: GraphQLError): ErrorDetail {
  const at = (p: ReadonlyArray<string | number>) => restPath(prefix, p) || 'body';
  const missing = /^Field "([^"]+)" of required type "[^"]+" was not provided\.$/.exec(error.message);
  if (missing) return { path: at([...path, missing[1]!]), message: 'is required' };
  const unknown = /^Field "([^"]+)" is not defined by type "[^"]+"\.\s*(.*)$/.exec(error.message);
  if (unknown) {
    const hint = unknown[2] ? `: ${unknown[2]}` : '';
    return { path: at([...path, unknown[1]!]), message: `is not a known field${hint}` };
  }
  if (/^Expected non-nullable type "[^"]+" not to be null\.$/.test(error.message)) {
    return { path: at(path), message: 'must not be null' };
  }
  return { path: at(path), message: error.message };
}

/** Evaluates a shield rule as the shield middleware would before a resolver; a refusal is thrown for REST. */
async function enforce(rule: ShieldRule, context: GraphQLContext): Promise<void> {
  const verdict = await ruleVerdict(rule, context);
  if (verdict !== true) throw restErrorOf(verdict);
}
