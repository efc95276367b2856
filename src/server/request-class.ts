import {
  Kind,
  parse,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * What a request costs, for rate limits: `read` (queries, GET), `write`
 * (mutations, POST/PUT/DELETE) and `heavy` (counts, previews, overlaps and
 * data loads: the requests that read a whole table or write many rows).
 */
export type RequestClass = 'read' | 'write' | 'heavy';
export const REQUEST_CLASSES: readonly RequestClass[] = ['read', 'write', 'heavy'];

/**
 * Root fields that are heavy whatever they select, and the one object field
 * that is heavy wherever it is selected (`Segment.preview`). A unit test
 * checks that every name here is in the schema.
 */
export const HEAVY_ROOT_FIELDS = {
  query: ['segmentOverlap'],
  mutation: ['refreshSegment', 'loadRows'],
} as const;
export const HEAVY_FIELD = 'preview';

/** The class of the operation `operationName` (or the only one) of a parsed document. */
export function classifyOperation(document: DocumentNode, operationName?: string | null): RequestClass {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  // No operation to run: GraphQL refuses the request before anything executes.
  if (!operation) return 'read';
  const fragments = new Map(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((f) => [f.name.value, f]),
  );
  const heavyRoots: readonly string[] =
    operation.operation === 'mutation' ? HEAVY_ROOT_FIELDS.mutation : operation.operation === 'query' ? HEAVY_ROOT_FIELDS.query : [];
  const rootNames = fieldNames(operation.selectionSet, fragments, 1);
  if (rootNames.some((name) => heavyRoots.includes(name))) return 'heavy';
  if (fieldNames(operation.selectionSet, fragments, Infinity).includes(HEAVY_FIELD)) return 'heavy';
  return operation.operation === 'mutation' ? 'write' : 'read';
}

/**
 * Names of the fields selected down to `depth` levels, through fragments and
 * inline fragments (each fragment visited once, so a cycle cannot loop).
 */
function fieldNames(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  depth: number,
): string[] {
  const names: string[] = [];
  const visited = new Set<string>();
  const walk = (set: SelectionSetNode, level: number): void => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        names.push(selection.name.value);
        if (selection.selectionSet && level < depth) walk(selection.selectionSet, level + 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, level);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment && !visited.has(fragment.name.value)) {
          visited.add(fragment.name.value);
          walk(fragment.selectionSet, level);
        }
      }
    }
  };
  walk(selectionSet, 1);
  return names;
}

/** Documents classified lately, by text: clients send the same few documents again and again. */
const CACHE_SIZE = 500;
/** Longer documents are parsed every time rather than kept. */
const CACHEABLE_LENGTH = 16 * 1024;
const classified = new Map<string, RequestClass>();

/**
 * The class of a GraphQL request, from its text. Yoga has already parsed and
 * validated it by the time this runs (before its context is built), so a
 * document that does not parse never gets here; it is read as `read` all the same.
 */
export function classifyGraphQLRequest(params: { query?: string | null; operationName?: string | null }): RequestClass {
  const query = params.query;
  if (!query) return 'read';
  const cacheKey = `${params.operationName ?? ''}\u0000${query}`;
  const cached = classified.get(cacheKey);
  if (cached) return cached;
  let result: RequestClass;
  try {
    result = classifyOperation(parse(query, { noLocation: true }), params.operationName);
  } catch {
    result = 'read';
  }
  if (query.length <= CACHEABLE_LENGTH) {
    if (classified.size >= CACHE_SIZE) classified.delete(classified.keys().next().value!);
    classified.set(cacheKey, result);
  }
  return result;
}

/** A REST route's class: its own when it declares one (`heavy`), else by method. */
export function classifyRestRoute(route: { method: string; requestClass?: RequestClass }): RequestClass {
  return route.requestClass ?? (route.method === 'GET' ? 'read' : 'write');
}
