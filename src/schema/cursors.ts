import { resolveCursorConnection } from '@pothos/plugin-relay';
import { Invalid } from '../domain/errors.js';

export interface Keyset {
  createdAt: Date;
  id: string;
}

/** Opaque to clients: base64url of the keyset `(createdAt, id)` of a row. */
export function encodeCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify({ c: row.createdAt.toISOString(), i: row.id })).toString('base64url');
}

export function decodeCursor(cursor: string, path: string): Keyset {
  const invalid = () => Invalid.at(path, 'is not a cursor this API gave out');
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const { c, i } = (parsed ?? {}) as { c?: unknown; i?: unknown };
  if (typeof c !== 'string' || typeof i !== 'string' || i.length > 64) throw invalid();
  const createdAt = new Date(c);
  if (Number.isNaN(createdAt.getTime())) throw invalid();
  return { createdAt, id: i };
}

export interface ConnectionArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/** Page sizes are 1 to 100; anything else is a clear input error, not a silent clamp. */
export function checkPageArgs(args: ConnectionArgs): void {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value !== null && value !== undefined && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw Invalid.at(name, `must be from 0 to ${MAX_PAGE_SIZE}`);
    }
  }
  if (args.after) decodeCursor(args.after, 'after');
  if (args.before) decodeCursor(args.before, 'before');
}

export interface KeysetPage {
  after?: Keyset;
  before?: Keyset;
  limit: number;
  inverted: boolean;
}

export interface KeysetConnection<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor?: string | null; endCursor?: string | null };
  /** Counted only when a client asks for it. */
  totalCount: () => Promise<number>;
}

/**
 * A relay connection over keyset pages of `(createdAt, id)`: page 400 costs
 * what page 1 costs. One statement for the page (LIMIT n+1 tells whether
 * there is more), one more for `totalCount` when asked.
 */
export async function keysetConnection<T extends { createdAt: Date; id: string }>(
  args: ConnectionArgs,
  fetchPage: (page: KeysetPage) => Promise<T[]>,
  count: () => Promise<number>,
): Promise<KeysetConnection<T>> {
  checkPageArgs(args);
  const connection = await resolveCursorConnection(
    {
      args: args as Parameters<typeof resolveCursorConnection>[0]['args'],
      toCursor: (node) => encodeCursor(node as T),
      defaultSize: DEFAULT_PAGE_SIZE,
      maxSize: MAX_PAGE_SIZE,
    },
    ({ before, after, limit, inverted }) =>
      fetchPage({
        ...(after ? { after: decodeCursor(after, 'after') } : {}),
        ...(before ? { before: decodeCursor(before, 'before') } : {}),
        limit,
        inverted,
      }) as Promise<unknown[]>,
  );
  return { ...(connection as unknown as Omit<KeysetConnection<T>, 'totalCount'>), totalCount: count };
}
