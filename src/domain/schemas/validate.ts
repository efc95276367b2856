import { Invalid, type ErrorDetail } from '../errors.js';
import {
  DATA_TYPES,
  ENTITY_TYPES,
  type BaseSchemaRecord,
  type DataType,
  type EntityType,
  type FieldDefinition,
} from './types.js';

/**
 * Input rules for creating and changing base schemas. Every problem is
 * reported with its path; nothing is silently rewritten (a name that breaks a
 * rule is refused, never lowercased or trimmed into shape).
 */

export const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
export const TABLE_PREFIX = 'ds_';
/** `ds_` + name must fit PostgreSQL's 63-byte identifiers. */
export const MAX_SCHEMA_NAME_LENGTH = 63 - TABLE_PREFIX.length;
export const MAX_DISPLAY_NAME_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 2_000;
export const MAX_FIELDS = 200;
export const DEFAULT_VARCHAR_LENGTH = 255;
export const MAX_VARCHAR_LENGTH = 10_485_760;
export const MAX_NUMERIC_PRECISION = 1_000;

/**
 * The key words PostgreSQL reserves (`pg_get_keywords()` categories R and T,
 * up to PostgreSQL 18). A test compares this list with the server's.
 */
export const RESERVED_WORDS: ReadonlySet<string> = new Set(
  [
    'all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create',
    'current_catalog current_date current_role current_time current_timestamp current_user default deferrable',
    'desc distinct do else end except false fetch for foreign from grant group having in initially intersect',
    'into lateral leading limit localtime localtimestamp not null offset on only or order placing primary',
    'references returning select session_user some symmetric system_user table then to trailing true union',
    'unique user using variadic when where window with',
    'authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join',
    'left like natural notnull outer overlaps right similar tablesample verbose',
  ]
    .join(' ')
    .split(' '),
);

/** Column names every PostgreSQL table already has. */
const SYSTEM_COLUMNS: ReadonlySet<string> = new Set(['tableoid', 'xmin', 'cmin', 'xmax', 'cmax', 'ctid']);

export function tableNameFor(schemaName: string): string {
  return TABLE_PREFIX + schemaName;
}

/** A create request, checked and with every default applied. */
export interface BaseSchemaDraft {
  name: string;
  displayName: string;
  description: string | null;
  entityType: EntityType;
  fields: FieldDefinition[];
}

/** What an update asks for, checked against the schema as it is now. */
export interface BaseSchemaChange {
  displayName: string;
  description: string | null;
  entityType: EntityType;
  /** The complete field list after the change, in the requested order. */
  fields: FieldDefinition[];
  /** New fields, with their position in the request (for error paths). */
  added: { field: FieldDefinition; index: number }[];
  renamed: { from: string; to: string }[];
  dropped: string[];
}

const CREATE_KEYS = ['name', 'displayName', 'description', 'entityType', 'fields'] as const;
const UPDATE_KEYS = ['name', 'displayName', 'description', 'entityType', 'fields'] as const;
const FIELD_KEYS = [
  'name',
  'displayName',
  'dataType',
  'length',
  'precision',
  'scale',
  'isNullable',
  'isPrimaryKey',
  'isUnique',
  'description',
] as const;

export function validateCreateBaseSchema(input: unknown): BaseSchemaDraft {
  const details: ErrorDetail[] = [];
  if (!isPlainObject(input)) throw Invalid.at('input', 'must be an object');
  rejectUnknownKeys(input, CREATE_KEYS, '', details);

  const name = checkSchemaName(input.name, details);
  const displayName = readText(input.displayName, 'displayName', MAX_DISPLAY_NAME_LENGTH, details, true);
  const description = readText(input.description, 'description', MAX_DESCRIPTION_LENGTH, details, false);
  const entityType = readEntityType(input.entityType, details) ?? 'customer';

  const fields: FieldDefinition[] = [];
  const inputs = readFieldList(input.fields, details, false);
  inputs.forEach((field, index) => {
    if (!field) return;
    const resolved = resolveField(field, null, `fields[${index}]`, details);
    if (resolved) fields.push(resolved);
  });
  if (inputs.length > 0) checkFieldSet(inputs, fields, details);

  Invalid.throwIfAny(inFieldOrder(details));
  return {
    name: name!,
    displayName: displayName ?? name!,
    description: description ?? null,
    entityType,
    fields,
  };
}

/**
 * Checks an update against `current`. Omitted keys keep their value; a field
 * listed without `renameFrom` under a current name keeps that field, and its
 * omitted attributes are inherited from it. Fields missing from the list are
 * dropped. Type, key and nullability changes are refused.
 */
export function validateUpdateBaseSchema(current: BaseSchemaRecord, input: unknown): BaseSchemaChange {
  const details: ErrorDetail[] = [];
  if (!isPlainObject(input)) throw Invalid.at('input', 'must be an object');
  rejectUnknownKeys(input, UPDATE_KEYS, '', details);

  if (input.name !== undefined && input.name !== current.name) {
    details.push({ path: 'name', message: 'a schema cannot be renamed (its table name derives from it)' });
  }
  const displayName = readText(input.displayName, 'displayName', MAX_DISPLAY_NAME_LENGTH, details, true);
  const description = readText(input.description, 'description', MAX_DESCRIPTION_LENGTH, details, false);
  const entityType = readEntityType(input.entityType, details);

  let change: Pick<BaseSchemaChange, 'fields' | 'added' | 'renamed' | 'dropped'> = {
    fields: current.fields,
    added: [],
    renamed: [],
    dropped: [],
  };
  if (input.fields !== undefined) change = planFieldChanges(current, readFieldList(input.fields, details, true), details);

  Invalid.throwIfAny(inFieldOrder(details));
  return {
    displayName: displayName === undefined ? current.displayName : (displayName ?? current.name),
    description: description === undefined ? current.description : description,
    entityType: entityType ?? current.entityType,
    ...change,
  };
}

// ---------------------------------------------------------------------------
// Fields

/** A field as the request wrote it: `undefined` (or null) = not given. */
interface FieldInput {
  name: string | undefined;
  displayName: string | null | undefined;
  dataType: DataType | undefined;
  length: number | undefined;
  precision: number | undefined;
  scale: number | undefined;
  isNullable: boolean | undefined;
  isPrimaryKey: boolean | undefined;
  isUnique: boolean | undefined;
  description: string | null | undefined;
  renameFrom: string | undefined;
}

function readFieldList(value: unknown, details: ErrorDetail[], allowRename: boolean): (FieldInput | null)[] {
  if (value === undefined || value === null) {
    details.push({ path: 'fields', message: 'required: at least one field' });
    return [];
  }
  if (!Array.isArray(value)) {
    details.push({ path: 'fields', message: 'must be an array of fields' });
    return [];
  }
  if (value.length === 0) details.push({ path: 'fields', message: 'at least one field is required' });
  if (value.length > MAX_FIELDS) {
    details.push({ path: 'fields', message: `at most ${MAX_FIELDS} fields are allowed` });
    return [];
  }
  return value.map((raw, index) => readField(raw, `fields[${index}]`, details, allowRename));
}

function readField(raw: unknown, path: string, details: ErrorDetail[], allowRename: boolean): FieldInput | null {
  if (!isPlainObject(raw)) {
    details.push({ path, message: 'must be an object' });
    return null;
  }
  rejectUnknownKeys(raw, allowRename ? [...FIELD_KEYS, 'renameFrom'] : FIELD_KEYS, path, details);
  const renameFrom =
    allowRename && raw.renameFrom !== undefined && raw.renameFrom !== null
      ? checkFieldName(raw.renameFrom, `${path}.renameFrom`, details)
      : undefined;
  return {
    name: checkFieldName(raw.name, `${path}.name`, details),
    displayName: readText(raw.displayName, `${path}.displayName`, MAX_DISPLAY_NAME_LENGTH, details, true),
    dataType: readDataType(raw.dataType, `${path}.dataType`, details),
    length: readInteger(raw.length, `${path}.length`, details),
    precision: readInteger(raw.precision, `${path}.precision`, details),
    scale: readInteger(raw.scale, `${path}.scale`, details),
    isNullable: readBoolean(raw.isNullable, `${path}.isNullable`, details),
    isPrimaryKey: readBoolean(raw.isPrimaryKey, `${path}.isPrimaryKey`, details),
    isUnique: readBoolean(raw.isUnique, `${path}.isUnique`, details),
    description: readText(raw.description, `${path}.description`, MAX_DESCRIPTION_LENGTH, details, false),
    renameFrom,
  };
}

/**
 * Applies defaults (a new field) or inherits from `base` (a field that exists)
 * and checks the options that depend on the data type.
 */
function resolveField(
  input: FieldInput,
  base: FieldDefinition | null,
  path: string,
  details: ErrorDetail[],
): FieldDefinition | null {
  if (input.name === undefined) return null;
  const dataType = input.dataType ?? base?.dataType;
  if (dataType === undefined) {
    if (!details.some((d) => d.path === `${path}.dataType`)) {
      details.push({ path: `${path}.dataType`, message: `required, one of ${DATA_TYPES.join(', ')}` });
    }
    return null;
  }
  const sameType = base !== null && base.dataType === dataType;
  const isPrimaryKey = input.isPrimaryKey ?? base?.isPrimaryKey ?? false;
  const isNullable = input.isNullable ?? base?.isNullable ?? !isPrimaryKey;
  if (isPrimaryKey && isNullable) {
    details.push({ path: `${path}.isNullable`, message: 'a primary-key field cannot be nullable' });
  }

  let length: number | null = null;
  if (dataType === 'varchar') {
    length = input.length ?? (sameType ? base.length : null) ?? DEFAULT_VARCHAR_LENGTH;
    if (length < 1 || length > MAX_VARCHAR_LENGTH) {
      details.push({ path: `${path}.length`, message: `must be between 1 and ${MAX_VARCHAR_LENGTH}` });
    }
  } else if (input.length !== undefined) {
    details.push({ path: `${path}.length`, message: 'applies to varchar fields only' });
  }

  let precision: number | null = null;
  let scale: number | null = null;
  if (dataType === 'numeric') {
    precision = input.precision ?? (sameType ? base.precision : null);
    scale = input.scale ?? (sameType ? base.scale : null);
    if (precision === null) {
      if (scale !== null) details.push({ path: `${path}.scale`, message: 'requires precision' });
    } else {
      scale ??= 0;
      if (precision < 1 || precision > MAX_NUMERIC_PRECISION) {
        details.push({ path: `${path}.precision`, message: `must be between 1 and ${MAX_NUMERIC_PRECISION}` });
      } else if (scale < 0 || scale > precision) {
        details.push({ path: `${path}.scale`, message: `must be between 0 and precision (${precision})` });
      }
    }
  } else {
    if (input.precision !== undefined) {
      details.push({ path: `${path}.precision`, message: 'applies to numeric fields only' });
    }
    if (input.scale !== undefined) details.push({ path: `${path}.scale`, message: 'applies to numeric fields only' });
  }

  const inheritedDisplayName = base && base.displayName !== base.name ? base.displayName : input.name;
  return {
    name: input.name,
    displayName: input.displayName ?? inheritedDisplayName,
    dataType,
    length,
    precision,
    scale,
    isNullable,
    isPrimaryKey,
    isUnique: input.isUnique ?? base?.isUnique ?? false,
    description: input.description === undefined ? (base?.description ?? null) : input.description,
  };
}

/** Rules over the whole list: unique names and at least one primary-key field. */
function checkFieldSet(inputs: (FieldInput | null)[], fields: FieldDefinition[], details: ErrorDetail[]): void {
  const seen = new Map<string, number>();
  inputs.forEach((field, index) => {
    if (!field?.name) return;
    const first = seen.get(field.name);
    if (first === undefined) seen.set(field.name, index);
    else details.push({ path: `fields[${index}].name`, message: `duplicate field name (also fields[${first}])` });
  });
  const complete = fields.length === inputs.length;
  if (complete && !fields.some((f) => f.isPrimaryKey)) {
    details.push({ path: 'fields', message: 'at least one field must be the primary key (isPrimaryKey: true)' });
  }
}

function planFieldChanges(
  current: BaseSchemaRecord,
  inputs: (FieldInput | null)[],
  details: ErrorDetail[],
): Pick<BaseSchemaChange, 'fields' | 'added' | 'renamed' | 'dropped'> {
  const currentByName = new Map(current.fields.map((f) => [f.name, f]));
  // Which input index claims each current field: by renameFrom first, then by name.
  const claims = new Map<string, number>();
  inputs.forEach((field, index) => {
    if (!field?.renameFrom) return;
    const path = `fields[${index}].renameFrom`;
    if (!currentByName.has(field.renameFrom)) {
      details.push({ path, message: `no field "${field.renameFrom}" in schema "${current.name}"` });
    } else if (claims.has(field.renameFrom)) {
      details.push({ path, message: `field "${field.renameFrom}" is renamed twice` });
    } else {
      claims.set(field.renameFrom, index);
    }
  });
  const renamedAway = new Map(claims);
  inputs.forEach((field, index) => {
    if (!field?.name || field.renameFrom || !currentByName.has(field.name)) return;
    const renamer = renamedAway.get(field.name);
    if (renamer !== undefined) {
      details.push({
        path: `fields[${index}].name`,
        message: `field "${field.name}" is also renamed by fields[${renamer}]; list it once`,
      });
    } else if (!claims.has(field.name)) {
      claims.set(field.name, index);
    }
    // A second entry under the same name is reported as a duplicate name.
  });

  const fields: FieldDefinition[] = [];
  const added: BaseSchemaChange['added'] = [];
  const renamed: BaseSchemaChange['renamed'] = [];
  inputs.forEach((field, index) => {
    if (!field?.name) return;
    const path = `fields[${index}]`;
    const baseName = field.renameFrom ?? field.name;
    const base = claims.get(baseName) === index ? (currentByName.get(baseName) ?? null) : null;
    if (field.renameFrom && !base) return; // already reported
    const resolved = resolveField(field, base, path, details);
    if (!resolved) return;
    fields.push(resolved);
    if (!base) {
      if (resolved.isPrimaryKey) {
        details.push({
          path: `${path}.isPrimaryKey`,
          message: 'adding a primary-key field to an existing schema is not supported',
        });
      }
      added.push({ field: resolved, index });
      return;
    }
    refuseStructuralChange(base, resolved, path, details);
    if (base.name !== resolved.name) {
      if (currentByName.has(resolved.name) && claims.has(resolved.name)) {
        details.push({
          path: `${path}.name`,
          message: `"${resolved.name}" is still a field of this schema; swapping names in one update is not supported`,
        });
      }
      renamed.push({ from: base.name, to: resolved.name });
    }
  });

  const dropped = current.fields.filter((f) => !claims.has(f.name)).map((f) => f.name);
  for (const name of dropped) {
    if (currentByName.get(name)?.isPrimaryKey) {
      details.push({ path: 'fields', message: `the primary-key field "${name}" cannot be removed` });
    }
  }
  checkFieldSet(inputs, fields, details);
  return { fields, added, renamed, dropped };
}

/** Changing what a column stores or enforces would need a table rewrite: refused, with the reason. */
function refuseStructuralChange(
  base: FieldDefinition,
  next: FieldDefinition,
  path: string,
  details: ErrorDetail[],
): void {
  if (
    base.dataType !== next.dataType ||
    base.length !== next.length ||
    base.precision !== next.precision ||
    base.scale !== next.scale
  ) {
    details.push({
      path: `${path}.dataType`,
      message: `changing the data type of field "${base.name}" is not supported; add a new field and drop this one instead`,
    });
  }
  const flags = ['isPrimaryKey', 'isNullable', 'isUnique'] as const;
  for (const flag of flags) {
    if (base[flag] !== next[flag]) {
      details.push({ path: `${path}.${flag}`, message: `changing ${flag} of an existing field is not supported` });
    }
  }
}

// ---------------------------------------------------------------------------
// Scalars

function checkSchemaName(value: unknown, details: ErrorDetail[]): string | undefined {
  const name = checkIdentifier(value, 'name', details);
  if (name !== undefined && name.length > MAX_SCHEMA_NAME_LENGTH) {
    details.push({
      path: 'name',
      message: `must be at most ${MAX_SCHEMA_NAME_LENGTH} characters: the table name ${TABLE_PREFIX}<name> must fit 63 bytes`,
    });
    return undefined;
  }
  return name;
}

function checkFieldName(value: unknown, path: string, details: ErrorDetail[]): string | undefined {
  const name = checkIdentifier(value, path, details);
  if (name !== undefined && SYSTEM_COLUMNS.has(name)) {
    details.push({ path, message: `"${name}" is the name of a PostgreSQL system column` });
    return undefined;
  }
  return name;
}

function checkIdentifier(value: unknown, path: string, details: ErrorDetail[]): string | undefined {
  if (value === undefined || value === null) {
    details.push({ path, message: 'required' });
    return undefined;
  }
  if (typeof value !== 'string') {
    details.push({ path, message: 'must be a string' });
    return undefined;
  }
  if (!IDENTIFIER.test(value)) {
    details.push({
      path,
      message:
        'must start with a lowercase letter and contain only lowercase letters, digits and underscores (at most 63)',
    });
    return undefined;
  }
  if (RESERVED_WORDS.has(value)) {
    details.push({ path, message: `"${value}" is a reserved word in PostgreSQL` });
    return undefined;
  }
  return value;
}

/** `undefined` = not given; `null` = given as null (meaning "the default"/"none"). */
function readText(
  value: unknown,
  path: string,
  max: number,
  details: ErrorDetail[],
  nonEmpty: boolean,
): string | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string') {
    details.push({ path, message: 'must be a string' });
    return undefined;
  }
  if (nonEmpty && value.trim() === '') {
    details.push({ path, message: 'must not be empty' });
    return undefined;
  }
  if (value.length > max) {
    details.push({ path, message: `must be at most ${max} characters` });
    return undefined;
  }
  return value;
}

function readEntityType(value: unknown, details: ErrorDetail[]): EntityType | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !(ENTITY_TYPES as readonly string[]).includes(value)) {
    details.push({ path: 'entityType', message: `must be one of ${ENTITY_TYPES.join(', ')}` });
    return undefined;
  }
  return value as EntityType;
}

function readDataType(value: unknown, path: string, details: ErrorDetail[]): DataType | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !(DATA_TYPES as readonly string[]).includes(value)) {
    details.push({ path, message: `must be one of ${DATA_TYPES.join(', ')}` });
    return undefined;
  }
  return value as DataType;
}

function readInteger(value: unknown, path: string, details: ErrorDetail[]): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    details.push({ path, message: 'must be an integer' });
    return undefined;
  }
  return value;
}

function readBoolean(value: unknown, path: string, details: ErrorDetail[]): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    details.push({ path, message: 'must be true or false' });
    return undefined;
  }
  return value;
}

function rejectUnknownKeys(
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  details: ErrorDetail[],
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) details.push({ path: path ? `${path}.${key}` : key, message: 'unknown key' });
  }
}

/** Problems of the schema first, then field by field (a stable sort keeps each field's own order). */
function inFieldOrder(details: ErrorDetail[]): ErrorDetail[] {
  const fieldIndex = (path: string) => Number(/^fields\[(\d+)\]/.exec(path)?.[1] ?? -1);
  return [...details].sort((a, b) => fieldIndex(a.path) - fieldIndex(b.path));
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
