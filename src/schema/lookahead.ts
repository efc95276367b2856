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
  const fields: FieldNode[] = [];
  const seen = new Set<string>();
  const visit = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) fields.push(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments[selection.name.value];
        if (fragment) visit(fragment.selectionSet);
      }
    }
  };
  for (const set of sets) visit(set);
  return fields;
}
