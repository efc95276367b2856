import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Invalid, type ErrorDetail } from '../../src/domain/errors.js';
import type { BaseSchemaRecord } from '../../src/domain/schemas/types.js';
import {
  IDENTIFIER,
  MAX_SCHEMA_NAME_LENGTH,
  RESERVED_WORDS,
  validateCreateBaseSchema,
  validateUpdateBaseSchema,
} from '../../src/domain/schemas/validate.js';

function problems(run: () => unknown): ErrorDetail[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(Invalid);
    return (error as Invalid).details ?? [];
  }
  throw new Error('expected Invalid');
}

function paths(run: () => unknown): string[] {
  return problems(run).map((d) => d.path);
}

const idField = { name: 'id', dataType: 'bigint', isPrimaryKey: true };

describe('creating a base schema', () => {
  it('applies the documented defaults', () => {
    const draft = validateCreateBaseSchema({
      name: 'customers',
      fields: [
        idField,
        { name: 'email', dataType: 'varchar' },
        { name: 'ltv', dataType: 'numeric', precision: 12 },
        { name: 'note', dataType: 'text', description: 'free text' },
      ],
    });
    expect(draft).toMatchObject({ name: 'customers', displayName: 'customers', description: null, entityType: 'customer' });
    expect(draft.fields).toEqual([
      {
        name: 'id',
        displayName: 'id',
        dataType: 'bigint',
        length: null,
        precision: null,
        scale: null,
        isNullable: false,
        isPrimaryKey: true,
        isUnique: false,
        description: null,
      },
      expect.objectContaining({ name: 'email', dataType: 'varchar', length: 255, isNullable: true, isUnique: false }),
      expect.objectContaining({ name: 'ltv', precision: 12, scale: 0 }),
      expect.objectContaining({ name: 'note', description: 'free text', isPrimaryKey: false }),
    ]);
  });

  it('accepts a composite primary key', () => {
    const draft = validateCreateBaseSchema({
      name: 'memberships',
      entityType: 'account',
      fields: [
        { name: 'account_id', dataType: 'uuid', isPrimaryKey: true },
        { name: 'user_id', dataType: 'uuid', isPrimaryKey: true, isNullable: false },
      ],
    });
    expect(draft.fields.filter((f) => f.isPrimaryKey).map((f) => f.name)).toEqual(['account_id', 'user_id']);
  });

  it.each([
    ['a"; drop table x; --'],
    ['Select'],
    ['1abc'],
    ['ÄÖ'],
    ['a'.repeat(64)],
    [''],
    ['has space'],
    ['with-dash'],
    ['_leading'],
  ])('refuses the schema name %j without rewriting it', (name) => {
    expect(paths(() => validateCreateBaseSchema({ name, fields: [idField] }))).toEqual(['name']);
  });

  it('refuses a name whose table name would not fit 63 bytes', () => {
    const longest = 'n'.repeat(MAX_SCHEMA_NAME_LENGTH);
    expect(validateCreateBaseSchema({ name: longest, fields: [idField] }).name).toBe(longest);
    const details = problems(() => validateCreateBaseSchema({ name: `${longest}x`, fields: [idField] }));
    expect(details).toEqual([{ path: 'name', message: expect.stringContaining('63 bytes') }]);
  });

  it.each(['select', 'table', 'user', 'order', 'group', 'limit', 'join'])('refuses the reserved word %s', (word) => {
    const details = problems(() =>
      validateCreateBaseSchema({ name: word, fields: [idField, { name: word, dataType: 'text' }] }),
    );
    expect(details).toEqual([
      { path: 'name', message: `"${word}" is a reserved word in PostgreSQL` },
      { path: 'fields[1].name', message: `"${word}" is a reserved word in PostgreSQL` },
    ]);
  });

  it('refuses field names of system columns', () => {
    expect(
      paths(() => validateCreateBaseSchema({ name: 'x', fields: [idField, { name: 'xmin', dataType: 'text' }] })),
    ).toEqual(['fields[1].name']);
  });

  it('reports every problem at once, each with its path', () => {
    const details = problems(() =>
      validateCreateBaseSchema({
        name: 'Bad Name',
        displayName: 'd'.repeat(256),
        description: 'x'.repeat(2_001),
        entityType: 'person',
        color: 'red',
        fields: [
          { name: 'id', dataType: 'bigint', isPrimaryKey: true, isNullable: true },
          { name: 'age', dataType: 'int' },
          { name: 'code', dataType: 'varchar', length: 0 },
          { name: 'price', dataType: 'numeric', precision: 5, scale: 6 },
          { name: 'note', dataType: 'text', length: 10, default: 'x' },
          { name: 'age', dataType: 'integer' },
          'not an object',
        ],
      }),
    );
    expect(details.map((d) => d.path)).toEqual([
      'color',
      'name',
      'displayName',
      'description',
      'entityType',
      'fields[0].isNullable',
      'fields[1].dataType',
      'fields[2].length',
      'fields[3].scale',
      'fields[4].default',
      'fields[4].length',
      'fields[5].name',
      'fields[6]',
    ]);
    expect(details.find((d) => d.path === 'fields[1].dataType')?.message).toContain('text, varchar, integer');
    expect(details.find((d) => d.path === 'color')?.message).toBe('unknown key');
  });

  it('requires a primary key and 1..200 fields', () => {
    expect(problems(() => validateCreateBaseSchema({ name: 'x', fields: [{ name: 'a', dataType: 'text' }] }))).toEqual([
      { path: 'fields', message: 'at least one field must be the primary key (isPrimaryKey: true)' },
    ]);
    expect(paths(() => validateCreateBaseSchema({ name: 'x', fields: [] }))).toContain('fields');
    expect(paths(() => validateCreateBaseSchema({ name: 'x' }))).toEqual(['fields']);
    const many = Array.from({ length: 201 }, (_, i) => ({ name: `f${i}`, dataType: 'text', isPrimaryKey: i === 0 }));
    expect(paths(() => validateCreateBaseSchema({ name: 'x', fields: many }))).toEqual(['fields']);
    expect(validateCreateBaseSchema({ name: 'x', fields: many.slice(0, 200) }).fields).toHaveLength(200);
  });

  it('checks varchar length and numeric precision and scale ranges', () => {
    const field = (extra: object) => () =>
      validateCreateBaseSchema({ name: 'x', fields: [idField, { name: 'v', ...extra }] });
    expect(paths(field({ dataType: 'varchar', length: 10_485_761 }))).toEqual(['fields[1].length']);
    expect(validateCreateBaseSchema({ name: 'x', fields: [idField, { name: 'v', dataType: 'varchar', length: 10_485_760 }] }).fields[1]?.length).toBe(10_485_760);
    expect(paths(field({ dataType: 'numeric', precision: 1_001 }))).toEqual(['fields[1].precision']);
    expect(paths(field({ dataType: 'numeric', scale: 2 }))).toEqual(['fields[1].scale']);
    expect(paths(field({ dataType: 'numeric', precision: 4, scale: -1 }))).toEqual(['fields[1].scale']);
    expect(paths(field({ dataType: 'integer', precision: 4 }))).toEqual(['fields[1].precision']);
    expect(paths(field({ dataType: 'text', length: 1.5 }))).toEqual(['fields[1].length']);
    expect(paths(field({ dataType: 'text', isUnique: 'yes' }))).toEqual(['fields[1].isUnique']);
  });

  it('refuses input that is not an object', () => {
    expect(paths(() => validateCreateBaseSchema(null))).toEqual(['input']);
    expect(paths(() => validateCreateBaseSchema([]))).toEqual(['input']);
  });

  it('accepts exactly the identifiers the rule describes (property)', () => {
    const valid = fc
      .tuple(
        fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
        fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_'), maxLength: 59 }),
      )
      .map(([first, rest]) => first + rest)
      .filter((name) => !RESERVED_WORDS.has(name));
    fc.assert(
      fc.property(valid, (name) => {
        expect(validateCreateBaseSchema({ name, fields: [idField] }).name).toBe(name);
      }),
    );
    fc.assert(
      fc.property(
        fc.string({ maxLength: 70 }).filter((s) => !IDENTIFIER.test(s)),
        (name) => {
          expect(paths(() => validateCreateBaseSchema({ name, fields: [idField] }))).toEqual(['name']);
        },
      ),
    );
  });
});

describe('changing a base schema', () => {
  const now = new Date('2024-01-01T00:00:00Z');
  const current: BaseSchemaRecord = {
    id: 'sch_000000000001',
    tenantId: 'acme',
    name: 'customers',
    displayName: 'Customers',
    description: null,
    entityType: 'customer',
    tableName: 'ds_customers',
    fields: validateCreateBaseSchema({
      name: 'customers',
      fields: [
        idField,
        { name: 'email', dataType: 'varchar', length: 120, isUnique: true, displayName: 'E-mail' },
        { name: 'age', dataType: 'integer' },
        { name: 'city', dataType: 'text', isNullable: false },
      ],
    }).fields,
    createdAt: now,
    updatedAt: now,
  };

  it('keeps what is left out', () => {
    const change = validateUpdateBaseSchema(current, { description: 'all of them' });
    expect(change).toMatchObject({
      displayName: 'Customers',
      description: 'all of them',
      entityType: 'customer',
      fields: current.fields,
      added: [],
      renamed: [],
      dropped: [],
    });
  });

  it('plans additions, renames and drops from the full list', () => {
    const change = validateUpdateBaseSchema(current, {
      fields: [
        { name: 'id' },
        { name: 'mail', renameFrom: 'email' },
        { name: 'town', renameFrom: 'city', displayName: 'Town' },
        { name: 'vip', dataType: 'boolean' },
      ],
    });
    expect(change.renamed).toEqual([
      { from: 'email', to: 'mail' },
      { from: 'city', to: 'town' },
    ]);
    expect(change.dropped).toEqual(['age']);
    expect(change.added).toEqual([{ index: 3, field: expect.objectContaining({ name: 'vip', isNullable: true }) }]);
    // A renamed field keeps its type, constraints and custom display name.
    expect(change.fields[1]).toMatchObject({ name: 'mail', dataType: 'varchar', length: 120, isUnique: true, displayName: 'E-mail' });
    expect(change.fields[2]).toMatchObject({ name: 'town', displayName: 'Town', isNullable: false });
  });

  it('refuses type, key and nullability changes, saying they are not supported', () => {
    const details = problems(() =>
      validateUpdateBaseSchema(current, {
        fields: [
          { name: 'id', dataType: 'text' },
          { name: 'email', dataType: 'varchar', length: 200 },
          { name: 'age', isNullable: false },
          { name: 'city', isPrimaryKey: true },
        ],
      }),
    );
    expect(details.map((d) => d.path)).toEqual([
      'fields[0].dataType',
      'fields[1].dataType',
      'fields[2].isNullable',
      'fields[3].isPrimaryKey',
    ]);
    expect(details[0]?.message).toContain('not supported');
  });

  it('refuses dropping the primary key, adding a key field, unknown renames, swaps and renaming the schema', () => {
    const details = problems(() =>
      validateUpdateBaseSchema(current, {
        name: 'clients',
        fields: [
          { name: 'uid', dataType: 'bigint', isPrimaryKey: true },
          { name: 'age', renameFrom: 'city' },
          { name: 'city', renameFrom: 'age' },
          { name: 'x', renameFrom: 'nothing' },
        ],
      }),
    );
    expect(details.map((d) => d.path).sort()).toEqual(
      [
        'name',
        'fields[0].isPrimaryKey',
        'fields[1].name',
        'fields[2].name',
        'fields[3].renameFrom',
        'fields',
      ].sort(),
    );
  });

  it('allows taking the name of a field that is dropped in the same change', () => {
    const change = validateUpdateBaseSchema(current, {
      fields: [{ name: 'id' }, { name: 'email' }, { name: 'age', renameFrom: 'city' }],
    });
    expect(change.dropped).toEqual(['age']);
    expect(change.renamed).toEqual([{ from: 'city', to: 'age' }]);
  });

  it('refuses a field listed twice, and unknown keys', () => {
    expect(
      paths(() =>
        validateUpdateBaseSchema(current, {
          fields: [{ name: 'id' }, { name: 'email' }, { name: 'email', dataType: 'text' }],
          tags: [],
        }),
      ).sort(),
    ).toEqual(['fields[2].name', 'tags']);
  });
});
