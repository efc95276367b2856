import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import {
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  validate,
  visit,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLLimits } from '../config.js';

/** Which limit refused an operation, for `/metrics`. */
export type OperationLimit = 'depth' | 'aliases' | 'tokens' | 'directives' | 'cost' | 'introspection';

export interface OperationLimitOptions {
  limits: GraphQLLimits;
  /** False refuses `__schema` and `__type` (INTROSPECTION=false). */
  introspection: boolean;
}

/**
 * The errors the limits raised, and which limit raised each. Yoga caches a
 * document's parse and validation errors and answers the same error objects
 * again, so a refusal is counted when it is answered, not when it is found.
 */
const refusals = new WeakMap<GraphQLError, OperationLimit>();

type RejectHandlers = Array<(context: ValidationContext | null, error: GraphQLError) => void>;

/** Report armor's refusal as an ordinary validation error (nothing runs) rather than throw it. */
const reject = (limit: OperationLimit): RejectHandlers => [
  (context, error) => {
    refusals.set(error, limit);
    context?.reportError(error);
  },
];

/**
 * The validation rules behind the limits (graphql-armor's), as graphql-js
 * runs them: the GraphQL endpoint adds them to every validation, and a test
 * runs the REST shim's own documents through them.
 */
export function operationLimitRules({ limits, introspection }: OperationLimitOptions): ValidationRule[] {
  const rules: ValidationRule[] = [
    // Depth counts fields, not fragments: `...RestSegment` is not a level of data.
    // `ignoreIntrospection` skips only a field named `__schema` (armor 2.4.2 and
    // later), whose depth graphql-js's own MaxIntrospectionDepthRule bounds.
    maxDepthRule({ n: limits.maxDepth, flattenFragments: true, onReject: reject('depth'), propagateOnRejection: false }),
    // Every alias counts, `__typename` ones too (armor's default lets those through).
    maxAliasesRule({ n: limits.maxAliases, allowList: [], onReject: reject('aliases'), propagateOnRejection: false }),
    maxDirectivesRule({ n: limits.maxDirectives, onReject: reject('directives'), propagateOnRejection: false }),
    costRule(limits, reject('cost')),
  ];
  if (!introspection) rules.push(markedRule(NoSchemaIntrospectionCustomRule, 'introspection'));
  return rules;
}

function costRule(limits: GraphQLLimits, onReject: RejectHandlers): ValidationRule {
  return costLimitRule({ maxCost: limits.maxCost, flattenFragments: true, onReject, propagateOnRejection: false });
}

/** A graphql-js rule whose errors are marked as refusals of `limit`. */
function markedRule(rule: ValidationRule, limit: OperationLimit): ValidationRule {
  return (context) =>
    rule(
      new Proxy(context, {
        get(target, property, receiver) {
          if (property === 'reportError') {
            return (error: GraphQLError) => {
              refusals.set(error, limit);
              target.reportError(error);
            };
          }
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
    );
}

/**
 * The yoga plugins that enforce the limits on every GraphQL request: the
 * token limit while parsing, the other limits while validating, and the cost
 * once more at execution when page sizes come in variables. `onRefused` is
 * told of every refusal answered.
 */
export function operationLimitPlugins(
  options: OperationLimitOptions & { onRefused?(limit: OperationLimit): void },
): Plugin[] {
  const rules = operationLimitRules(options);
  const tokens = maxTokensPlugin({
    n: options.limits.maxTokens,
    onReject: [(_context, error) => refusals.set(error, 'tokens')],
  }) as Plugin;
  return [
    tokens,
    {
      onValidate({ addValidationRule }) {
        for (const rule of rules) addValidationRule(rule);
      },
      onExecute({ args, setResultAndStopExecution }) {
        const errors = costRefusals(args.schema, args.document, args.variableValues ?? {}, options.limits);
        if (errors.length > 0) setResultAndStopExecution({ errors });
      },
      onExecutionResult({ result }) {
        if (!options.onRefused || !result || Array.isArray(result) || !('errors' in result)) return;
        for (const error of result.errors ?? []) {
          const limit = refusals.get(error);
          if (limit) options.onRefused(limit);
        }
      },
    },
  ];
}

/**
 * The cost limit once more, with the page sizes the variables give: the
 * errors to answer (as the rule reports them while validating), or none.
 */
export function costRefusals(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Readonly<Record<string, unknown>>,
  limits: GraphQLLimits,
): GraphQLError[] {
  const inlined = withPageSizesInlined(document, variables);
  if (!inlined) return [];
  const refused: GraphQLError[] = [];
  validate(schema, inlined, [costRule(limits, [(_context, error) => refused.push(error)])]);
  const errors = refused.map(
    (e) => new GraphQLError(e.message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { spec: true, status: 400 } } }),
  );
  for (const error of errors) refusals.set(error, 'cost');
  return errors;
}

const PAGE_ARGUMENTS = new Set(['first', 'last']);

/** Documents come from yoga's parse cache: what each passes as page sizes is worked out once. */
const pageVariablesOf = new WeakMap<DocumentNode, { names: ReadonlySet<string>; defaults: ReadonlyMap<string, number> }>();

function pageVariables(document: DocumentNode) {
  let found = pageVariablesOf.get(document);
  if (!found) {
    const names = new Set<string>();
    const defaults = new Map<string, number>();
    visit(document, {
      Argument(node) {
        if (PAGE_ARGUMENTS.has(node.name.value) && node.value.kind === Kind.VARIABLE) names.add(node.value.name.value);
      },
      VariableDefinition(node) {
        if (node.defaultValue?.kind === Kind.INT) defaults.set(node.variable.name.value, Number(node.defaultValue.value));
      },
    });
    found = { names, defaults };
    pageVariablesOf.set(document, found);
  }
  return found;
}

/**
 * graphql-armor's cost multiplies a list by a literal `first`/`last` only;
 * `segments(first: $n)` would cost the same for n = 1 and n = 100. This copy
 * of the document has such variables replaced by the values sent (or their
 * defaults), so the same cost rule sees the real page sizes. Null when the
 * document passes no page size in a variable.
 */
export function withPageSizesInlined(document: DocumentNode, variables: Readonly<Record<string, unknown>>): DocumentNode | null {
  const { names, defaults } = pageVariables(document);
  if (names.size === 0) return null;
  const sizeOf = (name: string): number | undefined => {
    const value = variables[name] ?? defaults.get(name);
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  };
  if (![...names].some((name) => sizeOf(name) !== undefined)) return null;
  return visit(document, {
    Argument(node) {
      if (!PAGE_ARGUMENTS.has(node.name.value) || node.value.kind !== Kind.VARIABLE) return undefined;
      const size = sizeOf(node.value.name.value);
      return size === undefined ? undefined : { ...node, value: { kind: Kind.INT, value: String(size) } };
    },
  });
}
