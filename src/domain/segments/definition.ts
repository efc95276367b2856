import type { BaseSchemaRecord } from '../schemas/types.js';

/**
 * A segment definition after validation: operators in their word form, join
 * aliases and types filled in, values checked against the field types. It is
 * still plain JSON in the request language, so it is what gets stored, and
 * validating it again yields the same definition.
 */

export const COMPARISON_OPERATORS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte'] as const;
export const LIST_OPERATORS = ['in', 'not_in'] as const;
export const TEXT_MATCH_OPERATORS = ['contains', 'not_contains', 'starts_with', 'ends_with'] as const;
export const NULL_OPERATORS = ['is_null', 'is_not_null'] as const;
export const RECENCY_OPERATORS = ['within_last', 'not_within_last'] as const;
export const TIME_UNITS = ['minutes', 'hours', 'days', 'weeks', 'months'] as const;
export const AGGREGATE_FUNCTIONS = ['count', 'sum', 'avg', 'min', 'max'] as const;
export const JOIN_TYPES = ['inner', 'left'] as const;

export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];
export type ListOperator = (typeof LIST_OPERATORS)[number];
export type TextMatchOperator = (typeof TEXT_MATCH_OPERATORS)[number];
export type NullOperator = (typeof NULL_OPERATORS)[number];
export type RecencyOperator = (typeof RECENCY_OPERATORS)[number];
export type Operator =
  ComparisonOperator | ListOperator | 'between' | TextMatchOperator | NullOperator | RecencyOperator;
export type TimeUnit = (typeof TIME_UNITS)[number];
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];
export type JoinType = (typeof JOIN_TYPES)[number];

/**
 * One value of a field's type: text, varchar, uuid (lowercase), date
 * (`YYYY-MM-DD`), timestamptz (ISO-8601 with a zone) and bigint beyond the
 * safe integers are strings; numbers are numbers; booleans are booleans.
 */
export type Scalar = string | number | boolean;

export interface Recency {
  amount: number;
  unit: TimeUnit;
}

/** What a field condition asks of its field, by operator. */
export type FieldTest =
  | { operator: ComparisonOperator; value: Scalar }
  | { operator: ListOperator; value: Scalar[] }
  | { operator: 'between'; value: [Scalar, Scalar] }
  | { operator: TextMatchOperator; value: string }
  | { operator: NullOperator }
  | { operator: RecencyOperator; value: Recency };

/** What an aggregate condition asks of the aggregated value. */
export type AggregateTest =
  | { operator: ComparisonOperator; value: Scalar }
  | { operator: ListOperator; value: Scalar[] }
  | { operator: 'between'; value: [Scalar, Scalar] };

/**
 * `field` is a base field name or `alias.field` of a join; inside an
 * aggregate's `where` it is a plain field name of the joined schema.
 */
export type FieldCondition = { field: string } & FieldTest;

/** All must hold; an empty list holds. */
export interface AllOf<C> {
  all: C[];
}
/** One must hold; an empty list does not. */
export interface AnyOf<C> {
  any: C[];
}
export interface NotOf<C> {
  not: C;
}
export type GroupOf<C> = AllOf<C> | AnyOf<C> | NotOf<C>;

/** A condition on the rows of one joined schema (an aggregate's `where`). */
export type RowCondition = FieldCondition | AllOf<RowCondition> | AnyOf<RowCondition> | NotOf<RowCondition>;

export type AggregateCondition = {
  aggregate: AggregateFunction;
  /** The join alias whose rows are aggregated. */
  join: string;
  /** Absent for `count`. */
  field?: string;
  where: RowCondition[];
} & AggregateTest;

export interface SegmentReference {
  segment: string;
  operator: 'in' | 'not_in';
}

export type Condition =
  FieldCondition | AggregateCondition | SegmentReference | AllOf<Condition> | AnyOf<Condition> | NotOf<Condition>;

export interface JoinDefinition {
  schemaId: string;
  alias: string;
  type: JoinType;
  /** A field of the base schema. */
  localField: string;
  /** A field of the joined schema. */
  foreignField: string;
}

export interface SegmentDefinition {
  baseSchemaId: string;
  joins: JoinDefinition[];
  /** All must hold. */
  filters: Condition[];
}

export interface ReferencedSegment {
  id: string;
  baseSchemaId: string;
  viewName: string;
}

export interface DefinitionContext {
  baseSchema: BaseSchemaRecord;
  /** Schemas of the same tenant only. */
  schemasById: ReadonlyMap<string, BaseSchemaRecord>;
  /** Segments of the same tenant only. */
  segmentsById: ReadonlyMap<string, ReferencedSegment>;
  /** The segment being updated, which must not reach itself through references. */
  selfId?: string;
  /** The stored segment references of another segment, for cycle detection. */
  referencesOf?: (segmentId: string) => readonly string[];
}

export interface CompileContext extends DefinitionContext {
  /** `tenantNamespace(tenantId)`. */
  namespace: string;
}

export interface OverlapContext extends CompileContext {
  /**
   * Validated definitions of the segments an overlap compares and of those
   * they reference (to any depth), by id: each is inlined into the one pass.
   */
  definitionsById: ReadonlyMap<string, SegmentDefinition>;
}

export const LIMITS = {
  conditions: 100,
  depth: 5,
  listValues: 1000,
  joins: 5,
  /** A request that is wrong everywhere gets this many problems listed, not millions. */
  reportedProblems: 100,
  stringLength: 10_000,
} as const;

/** within_last reaches back at most about 100 years, which keeps `now() - interval` in range. */
export const MAX_RECENCY_AMOUNT: Readonly<Record<TimeUnit, number>> = {
  minutes: 100 * 365 * 24 * 60,
  hours: 100 * 365 * 24,
  days: 100 * 365,
  weeks: 100 * 52,
  months: 100 * 12,
};

export function isGroup<C>(c: object): c is GroupOf<C> {
  return 'all' in c || 'any' in c || 'not' in c;
}

/** The children of a group, whichever kind it is. */
export function groupChildren<C>(g: GroupOf<C>): C[] {
  if ('all' in g) return g.all;
  if ('any' in g) return g.any;
  return [g.not];
}
