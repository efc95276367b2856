import { Kind, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/**
 * The names of the fields a query selects at `path` below the field being
 * resolved (`['edges', 'node']` for the nodes of a connection), through
 * fragments and inline fragments. `@skip` and `@include` are not evaluated:
 * a field they leave out still counts, so a resolver that fetches ahead
 * fetches at most what the query could have asked. Documents come from the
 * parse cache, so the answer is kept per field node.
 */
export function selectedFieldNames(info: GraphQLResolveInfo, path: readonly string[]): ReadonlySet<string> {
  const key = info.fieldNodes[0];
  const cacheKey = path.join('.');
  const cached = key ? cache.get(key)?.get(cacheKey) : undefined;
  if (cached) return cached;
  let level: SelectionSetNode[] = info.fieldNodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
  for (const name of path) {
    level = fieldsOf(level, info.fragments)
      .filter((field) => field.name.value === name)
      .flatMap((field) => (field.selectionSet ? [field.selectionSet] : []));
  }
  const names = new Set(fieldsOf(level, info.fragments).map((field) => field.name.value));
  if (key) {
    const perNode = cache.get(key) ?? new Map<string, ReadonlySet<string>>();
    perNode.set(cacheKey, names);
    cache.set(key, perNode);
  }
  return names;
}

const cache = new WeakMap<FieldNode, Map<string, ReadonlySet<string>>>();

function fieldsOf(sets: SelectionSetNode[], fragments: Record<string, FragmentDefinitionNode>): FieldNode[] {
  return [...collectFields(sets, fragments)!.values()].flat();
}

/**
 * The fields of `sets` by response key, in the order a response shows them
 * (graphql-js's CollectFields, directives not evaluated), through fragments
 * whose type condition is one of `types` (any, when `types` is not given);
 * null when a fragment has another.
 */
export function collectFields(
  sets: readonly SelectionSetNode[],
  fragments: Record<string, FragmentDefinitionNode>,
  types?: readonly string[],
): Map<string, FieldNode[]> | null {
  const selected = new Map<string, FieldNode[]>();
  const visited = new Set<string>();
  const applies = (condition: string | undefined) => condition === undefined || !types || types.includes(condition);
  const walk = (set: SelectionSetNode): boolean => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        const same = selected.get(key);
        if (same) same.push(selection);
        else selected.set(key, [selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (!applies(selection.typeCondition?.name.value) || !walk(selection.selectionSet)) return false;
      } else {
        const name = selection.name.value;
        if (visited.has(name)) continue;
        visited.add(name);
        const fragment = fragments[name];
        if (!fragment) continue;
        if (!applies(fragment.typeCondition.name.value) || !walk(fragment.selectionSet)) return false;
      }
    }
    return true;
  };
  for (const set of sets) if (!walk(set)) return null;
  return selected;
}
