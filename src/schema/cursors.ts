import { parseCursorConnectionArgs } from '@pothos/plugin-relay';
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

/**
 * The keysets of `after` and `before`, once page sizes are checked: 1 to 100,
 * anything else is a clear input error, not a silent clamp.
 */
export function checkPageArgs(args: ConnectionArgs): { after?: Keyset; before?: Keyset } {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value !== null && value !== undefined && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw Invalid.at(name, `must be from 0 to ${MAX_PAGE_SIZE}`);
    }
  }
  return {
    ...(args.after ? { after: decodeCursor(args.after, 'after') } : {}),
    ...(args.before ? { before: decodeCursor(args.before, 'before') } : {}),
  };
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

/** An edge whose cursor is encoded only if the query asks for it. */
class KeysetEdge<T extends { createdAt: Date; id: string }> {
  constructor(readonly node: T) {}

  get cursor(): string {
    return encodeCursor(this.node);
  }
}

/**
 * What relay's arguments ask of a keyset page: the page to fetch, and how
 * the rows fetched become its edges and page info. Relay's rules for the
 * arguments and page info are Pothos's own (`parseCursorConnectionArgs`, as
 * its `resolveCursorConnection` uses them); bad arguments throw as input errors.
 */
export function keysetPage(args: ConnectionArgs) {
  const keysets = checkPageArgs(args);
  const { limit, inverted, expectedSize, hasPreviousPage, hasNextPage } = parseCursorConnectionArgs({
    args,
    defaultSize: DEFAULT_PAGE_SIZE,
    maxSize: MAX_PAGE_SIZE,
  });
  return {
    request: { ...keysets, limit, inverted } satisfies KeysetPage,
    /** The rows fetched (up to `limit`) as the page shows them, in order. */
    shown<T>(rows: T[]): T[] {
      const trimmed = rows.slice(0, expectedSize);
      if (inverted) trimmed.reverse();
      return trimmed;
    },
    hasPreviousPage,
    hasNextPage,
    /** The cursors of an empty page: those the client sent, as Pothos answers them. */
    given: args.after ?? args.before ?? '',
  };
}

/**
 * A relay connection over keyset pages of `(createdAt, id)`: page 400 costs
 * what page 1 costs. One statement for the page (LIMIT n+1 tells whether
 * there is more), one more for `totalCount` when asked. Cursors are encoded
 * lazily, since most reads of a list never ask for them.
 */
export async function keysetConnection<T extends { createdAt: Date; id: string }>(
  args: ConnectionArgs,
  fetchPage: (page: KeysetPage) => Promise<T[]>,
  count: () => Promise<number>,
): Promise<KeysetConnection<T>> {
  const page = keysetPage(args);
  const nodes = await fetchPage(page.request);
  const edges = page.shown(nodes).map((node) => new KeysetEdge(node));
  return {
    edges,
    pageInfo: {
      get startCursor() {
        return edges[0]?.cursor ?? page.given;
      },
      get endCursor() {
        return edges[edges.length - 1]?.cursor ?? page.given;
      },
      hasPreviousPage: page.hasPreviousPage(nodes.length),
      hasNextPage: page.hasNextPage(nodes.length),
    },
    totalCount: count,
  };
}
