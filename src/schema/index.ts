import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './scalars.js';
import './viewer.js';
import './api-keys.js';
import './base-schemas.js';
import './segments.js';

let built: GraphQLSchema | undefined;

/** The executable schema, with the shield rules applied. Built once per process. */
export function buildSchema(): GraphQLSchema {
  built ??= builder.toSchema();
  return built;
}

/** The SDL checked in as `schema.graphql`. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
