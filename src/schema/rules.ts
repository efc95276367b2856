import { rule } from 'graphql-shield';
import type { Role } from '../domain/keys.js';
import type { GraphQLContext } from './context.js';
import { forbiddenError, unauthenticatedError } from './errors.js';

/*
 * Rules read only the verified principal. `cache: 'contextual'` evaluates each
 * rule once per request, however many fields it guards.
 */

export const isAuthenticated = rule({ cache: 'contextual' })((_parent, _args, ctx: GraphQLContext) =>
  ctx.principal ? true : unauthenticatedError(),
);

function hasRole(roles: readonly Role[]) {
  return rule({ cache: 'contextual' })((_parent, _args, ctx: GraphQLContext) => {
    if (!ctx.principal) return unauthenticatedError();
    return roles.includes(ctx.principal.role) ? true : forbiddenError();
  });
}

/** List and read: every role. */
export const canRead = hasRole(['admin', 'editor', 'viewer']);
/** Create, update, delete, load rows, refresh, preview, overlap. */
export const canWrite = hasRole(['admin', 'editor']);
/** API keys. */
export const isAdmin = hasRole(['admin']);
