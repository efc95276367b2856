import {
  isLeafType,
  Kind,
  valueFromAST,
  visit,
  BREAK,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { tenantOf, type GraphQLContext } from '../schema/context.js';
import { keysetPage } from '../schema/cursors.js';
import { collectFields } from '../schema/lookahead.js';
import { fieldRule, ruleVerdict } from '../schema/shield-plugin.js';
import {
  BASE_SCHEMA_JSON_FIELDS,
  jsonObject,
  listSegmentJsonPage,
  SEGMENT_CURSOR,
  SEGMENT_JSON_FIELDS,
  textConstant,
  type SegmentJsonShape,
} from '../sql/segments.js';

/**
 * A query of the segment list that PostgreSQL can write whole: a document
 * whose only root field is `segments` and whose selection holds only what
 * maps to a column (see `SEGMENT_JSON_FIELDS`), the base schema's columns,
 * cursors, page info, `totalCount` and `__typename`.
 */
export interface SegmentListPlan {
  /**
   * The response's JSON text, or null when this request is for the compiled
   * execution to answer (a rule refuses it, an argument is bad: what it
   * answers then is an error this plan does not write).
   */
  answer(context: GraphQLContext, variables: Record<string, unknown>): Promise<string | null>;
}

/**
 * Distinct edge shapes whose statements are prepared on every connection;
 * later shapes run as unnamed statements, so that documents with ever new
 * selections cannot grow each connection's prepared statements without end.
 */
const PREPARED_SHAPES = 32;
const preparedShapes = new Set<string>();

type Selected = Map<string, FieldNode[]>;

/** A value of the response at one key, written when the request's page is known. */
type ConnectionPart = { key: string } & (
  | { kind: 'edges' }
  | { kind: 'totalCount' }
  | { kind: 'typename'; name: string }
  | { kind: 'pageInfo'; fields: Array<{ key: string; field: string }> }
);

/**
 * The plan of `operation`, or null when the document asks anything a plan
 * does not write (then the compiled execution answers it, as before).
 * Directives are not evaluated here: a document with any is not planned.
 */
export function planSegmentList(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): SegmentListPlan | null {
  if (operation.operation !== 'query' || hasDirectives(document)) return null;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  const collect = (fields: readonly FieldNode[], types: readonly string[]) =>
    collectFields(
      fields.flatMap((field) => (field.selectionSet ? [field.selectionSet] : [])),
      fragments,
      types,
    );

  const queryType = schema.getQueryType();
  const field = queryType?.getFields().segments;
  const rule = field ? fieldRule(field.extensions) : undefined;
  const root = collectFields([operation.selectionSet], fragments, [queryType?.name ?? 'Query']);
  if (!queryType || !field || !rule || !root) return null;

  let list: { key: string; nodes: FieldNode[] } | null = null;
  const rootParts: Array<{ key: string; typename?: string }> = [];
  for (const [key, nodes] of root) {
    const name = nodes[0]!.name.value;
    if (name === '__typename') rootParts.push({ key, typename: queryType.name });
    else if (name === 'segments' && !list) {
      list = { key, nodes };
      rootParts.push({ key });
    } else return null;
  }
  if (!list) return null;

  const plain = plainFields(schema);
  const connection = collect(list.nodes, ['SegmentConnection']);
  if (!connection) return null;
  const parts: ConnectionPart[] = [];
  let edgeNodes: FieldNode[] = [];
  for (const [key, nodes] of connection) {
    const name = nodes[0]!.name.value;
    if (name !== '__typename' && !plain('SegmentConnection', name)) return null;
    if (name === 'edges') {
      // One shape of edge a statement.
      if (edgeNodes.length > 0) return null;
      edgeNodes = nodes;
      parts.push({ key, kind: 'edges' });
    } else if (name === 'totalCount') parts.push({ key, kind: 'totalCount' });
    else if (name === '__typename') parts.push({ key, kind: 'typename', name: 'SegmentConnection' });
    else if (name === 'pageInfo') {
      const info = collect(nodes, ['PageInfo']);
      if (!info) return null;
      const fields = [...info].map(([infoKey, infoNodes]) => ({ key: infoKey, field: infoNodes[0]!.name.value }));
      if (!fields.every(({ field: f }) => f === '__typename' || plain('PageInfo', f))) return null;
      parts.push({ key, kind: 'pageInfo', fields });
    } else return null;
  }

  let readsBaseSchema = false;
  /** A segment's columns, and `baseSchema` as an object of its own (it and `baseSchemaName` read `b`). */
  const segmentJson = (segmentNodes: FieldNode[]): string | null => {
    const entries = columnsOf(collect(segmentNodes, ['Segment', 'Node']), 'Segment', SEGMENT_JSON_FIELDS, plain, (fieldName, fieldNodes) => {
      if (fieldName === 'baseSchemaName') readsBaseSchema = true;
      if (fieldName !== 'baseSchema') return undefined;
      readsBaseSchema = true;
      const schemaEntries = columnsOf(collect(fieldNodes, ['BaseSchema', 'Node']), 'BaseSchema', BASE_SCHEMA_JSON_FIELDS, plain);
      return schemaEntries && jsonObject(schemaEntries);
    });
    return entries && jsonObject(entries);
  };
  const edge = edgeNodes.length > 0 ? collect(edgeNodes, ['SegmentConnectionEdge']) : new Map<string, FieldNode[]>();
  const edgeEntries = columnsOf(edge, 'SegmentConnectionEdge', { cursor: SEGMENT_CURSOR }, plain, (name, nodes) =>
    name === 'node' ? segmentJson(nodes) : undefined,
  );
  if (!edgeEntries) return null;

  const wantsCursor = parts.some(
    (part) => part.kind === 'pageInfo' && part.fields.some((f) => f.field === 'startCursor' || f.field === 'endCursor'),
  );
  const shape: SegmentJsonShape = {
    edge: edgeEntries.length > 0 ? jsonObject(edgeEntries) : `'{}'::json`,
    baseSchema: readsBaseSchema,
    cursor: wantsCursor,
    total: parts.some((part) => part.kind === 'totalCount'),
  };
  const readArguments = argumentReader(field as GraphQLField<unknown, unknown>, list.nodes[0]!);
  if (!readArguments) return null;
  if (preparedShapes.size < PREPARED_SHAPES) preparedShapes.add(shape.edge);
  const prepared = preparedShapes.has(shape.edge);
  return {
    async answer(context, variables) {
      if ((await ruleVerdict(rule, context)) !== true) return null;
      const args = readArguments(variables);
      const page = keysetPage(args);
      const found = await listSegmentJsonPage(
        context.services.database.db,
        tenantOf(context).id,
        { status: args.status, search: args.search },
        page.request,
        shape,
        prepared,
      );
      const rows = page.shown(found.rows);
      const pageInfo = {
        hasNextPage: page.hasNextPage(found.rows.length),
        hasPreviousPage: page.hasPreviousPage(found.rows.length),
        startCursor: rows[0]?.cursor ?? page.given,
        endCursor: rows[rows.length - 1]?.cursor ?? page.given,
        __typename: 'PageInfo',
      };
      const written = parts.map((part) => {
        const value =
          part.kind === 'edges'
            ? `[${rows.map((row) => row.json).join(',')}]`
            : part.kind === 'totalCount'
              ? String(found.total)
              : part.kind === 'typename'
                ? JSON.stringify(part.name)
                : `{${part.fields.map((f) => `${JSON.stringify(f.key)}:${JSON.stringify(pageInfo[f.field as keyof typeof pageInfo])}`).join(',')}}`;
        return `${JSON.stringify(part.key)}:${value}`;
      });
      const data = rootParts.map((part) =>
        part.typename === undefined ? `${JSON.stringify(part.key)}:{${written.join(',')}}` : `${JSON.stringify(part.key)}:${JSON.stringify(part.typename)}`,
      );
      return `{"data":{${data.join(',')}}}`;
    },
  };
}

interface ListArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
  status?: string | null;
  search?: string | null;
}

/**
 * The field's arguments from a request's coerced variables, as
 * graphql-js's `getArgumentValues` gives them, for arguments that are all
 * nullable scalars or enums (literals are coerced once, here); null for any
 * other field.
 */
function argumentReader(field: GraphQLField<unknown, unknown>, node: FieldNode): ((variables: Record<string, unknown>) => ListArgs) | null {
  const readers: Array<(variables: Record<string, unknown>, args: Record<string, unknown>) => void> = [];
  for (const definition of field.args) {
    if (!isLeafType(definition.type)) return null;
    const { name, defaultValue } = definition;
    const given = node.arguments?.find((argument) => argument.name.value === name)?.value;
    if (given === undefined || given.kind === Kind.VARIABLE) {
      const variable = given?.name.value;
      readers.push((variables, args) => {
        if (variable !== undefined && Object.hasOwn(variables, variable)) args[name] = variables[variable];
        else if (defaultValue !== undefined) args[name] = defaultValue;
      });
    } else {
      const value: unknown = valueFromAST(given, definition.type);
      if (value === undefined) return null;
      readers.push((_variables, args) => {
        args[name] = value;
      });
    }
  }
  return (variables) => {
    const args: Record<string, unknown> = {};
    for (const read of readers) read(variables, args);
    return args as ListArgs;
  };
}

/** `(type, field)` → whether the schema has that field without a shield rule of its own. */
function plainFields(schema: GraphQLSchema) {
  return (typeName: string, fieldName: string): boolean => {
    const type = schema.getType(typeName);
    if (!type || !('getFields' in type)) return false;
    const field = type.getFields()[fieldName];
    return field !== undefined && fieldRule(field.extensions as Record<string, unknown>) === undefined;
  };
}

/**
 * The entries of an object whose every field is a column of `columns`,
 * `__typename`, or a field `nested` writes (its SQL; null refuses the field,
 * undefined leaves it to the columns), or null.
 */
function columnsOf(
  selected: Selected | null,
  typeName: string,
  columns: Record<string, string>,
  plain: (typeName: string, fieldName: string) => boolean,
  nested: (fieldName: string, nodes: FieldNode[]) => string | null | undefined = () => undefined,
): Array<[string, string]> | null {
  if (!selected) return null;
  const entries: Array<[string, string]> = [];
  for (const [key, nodes] of selected) {
    const name = nodes[0]!.name.value;
    if (name === '__typename') {
      entries.push([key, textConstant(typeName)]);
      continue;
    }
    if (!plain(typeName, name)) return null;
    const written = nested(name, nodes);
    if (written === null) return null;
    if (written !== undefined) entries.push([key, written]);
    else if (Object.hasOwn(columns, name)) entries.push([key, columns[name]!]);
    else return null;
  }
  return entries;
}

function hasDirectives(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive() {
      found = true;
      return BREAK;
    },
  });
  return found;
}
