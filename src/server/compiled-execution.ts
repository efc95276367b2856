import {
  BREAK,
  getOperationAST,
  Kind,
  visit,
  getVariableValues,
  GraphQLError,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type Source,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';

/** What a compiled document keeps of graphql-jit's compilation. */
export type Compiled = Pick<CompiledQuery, 'query' | 'stringify'>;

export interface CompiledExecutionOptions {
  /**
   * Told of every run of a compiled document, with the request's query
   * text: how the direct path (direct-execution.ts) learns what it may answer.
   */
  onCompiledRun?(query: string, operationName: string | null | undefined, document: DocumentNode, compiled: Compiled): void;
}

/** What the yoga context of a request the direct path handed over carries (direct-execution.ts). */
interface HandedOver {
  direct?: { result?: ExecutionResult };
  params?: { query?: unknown };
}

/**
 * Execution through graphql-jit: a document asked a second time is compiled
 * to a JavaScript function and runs as that from then on; one-off documents
 * run on graphql-js and never pay for a compilation. Documents are the parse
 * cache's own objects, so compilations are kept per document and go when the
 * cache lets the document go.
 *
 * What a client sees does not depend on which of the two ran: variables are
 * coerced by graphql-js first either way (graphql-js's messages and hints),
 * and errors of compiled runs get back the source positions graphql-js
 * errors carry (graphql-jit keeps only line and column, which yoga's error
 * serialisation drops).
 */
export function useCompiledExecution(options: CompiledExecutionOptions = {}): Plugin {
  /**
   * Per document and operation name: seen once, compiled, or left to
   * graphql-js for good (it does not compile, or graphql-jit would change
   * its field order), so that neither check runs again on later requests.
   */
  const compilations = new WeakMap<DocumentNode, Map<string, Compiled | 'seen' | 'interpreted'>>();

  const compiledFor = (args: ExecutionArgs): Compiled | null => {
    let byOperation = compilations.get(args.document);
    if (!byOperation) {
      byOperation = new Map();
      compilations.set(args.document, byOperation);
    }
    const name = args.operationName ?? '';
    const known = byOperation.get(name);
    if (known === undefined) {
      byOperation.set(name, 'seen');
      return null;
    }
    if (known === 'interpreted') return null;
    if (known !== 'seen') return known;
    const compiled = keepsFieldOrder(args.document)
      ? compileQuery(args.schema, args.document, args.operationName ?? undefined)
      : null;
    // What does not compile runs on graphql-js, which reports it as it always has.
    const entry: Compiled | null = compiled && isCompiledQuery(compiled) ? compiled : null;
    byOperation.set(name, entry ?? 'interpreted');
    return entry;
  };

  return {
    onExecute({ args, setExecuteFn, setResultAndStopExecution }) {
      const context = args.contextValue as HandedOver;
      // Already run by the direct path, which ended with errors for yoga to answer.
      // As an execute function, not a stop: hooks after this one (yoga's masking) still see it.
      const handed = context.direct?.result;
      if (handed) {
        setExecuteFn(() => handed);
        return;
      }
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.variableDefinitions?.length) {
        const coerced = getVariableValues(args.schema, operation.variableDefinitions, args.variableValues ?? {}, {
          maxErrors: 50,
        });
        if (coerced.errors) {
          setResultAndStopExecution({ errors: coerced.errors });
          return;
        }
      }
      const compiled = compiledFor(args);
      if (!compiled) return;
      if (typeof context.params?.query === 'string') {
        options.onCompiledRun?.(context.params.query, args.operationName, args.document, compiled);
      }
      const source = args.document.loc?.source;
      setExecuteFn(async (run: ExecutionArgs) => {
        const result = (await compiled.query(run.rootValue, run.contextValue, run.variableValues)) as ExecutionResult & {
          stringify?: (value: unknown) => string;
        };
        if (result.errors?.length) return asInterpreted(result, source);
        result.stringify = compiled.stringify;
        return result;
      });
    },
  };
}

/**
 * Whether graphql-jit writes the document's fields in the order graphql-js
 * writes them (the order the query asks them in). Within a selection set it
 * takes the fields first and the fragments after them, the last fragment
 * first, so only documents whose selection sets end with at most one
 * fragment (spread or inline) come out in the same order. Others run on
 * graphql-js every time: a response does not change its key order between
 * the first and the second run of a document.
 */
export function keepsFieldOrder(document: DocumentNode): boolean {
  let keeps = true;
  visit(document, {
    SelectionSet(set) {
      const fragments = set.selections.filter((selection) => selection.kind !== Kind.FIELD).length;
      const last = set.selections[set.selections.length - 1];
      if (fragments > 1 || (fragments === 1 && last?.kind === Kind.FIELD)) {
        keeps = false;
        return BREAK;
      }
      return undefined;
    },
  });
  return keeps;
}

/**
 * A compiled run's result with errors as graphql-js makes it: errors with
 * their source positions, and `errors` before `data`, so that the answer is
 * the same text whichever ran. (Serialised by JSON.stringify: the compiled
 * serialiser is for data alone.)
 */
export function asInterpreted(result: ExecutionResult, source: Source | undefined): ExecutionResult {
  const errors = source ? result.errors?.map((e) => positioned(e, source)) : result.errors;
  const { data, extensions } = result;
  return extensions === undefined ? { errors, data } : { errors, data, extensions };
}

/** The error with source positions for its line and column, as graphql-js would have made it. */
function positioned(error: GraphQLError, source: Source): GraphQLError {
  if (error.nodes || error.positions || !error.locations?.length) return error;
  // Lines end as graphql-js's lexer ends them.
  const lineStarts = [0, ...[...source.body.matchAll(/\r\n|[\n\r]/g)].map((m) => m.index + m[0].length)];
  const positions = error.locations.map(({ line, column }) => (lineStarts[line - 1] ?? 0) + column - 1);
  return new GraphQLError(error.message, {
    source,
    positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}
