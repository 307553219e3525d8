/**
 * Bearer tokens with roles, for the project's own HTTP servers (the codec server, the dashboard): a token
 * map `{ "<token>": "<role>" }` validated through zod with issues that name tokens by position, never by
 * value, and a table that finds a presented token's role by comparing SHA-256 digests in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** The shortest token accepted. */
export const MIN_TOKEN_LENGTH = 16;

/** The outcome of parsing a token map: the map, or the issues (paths are `[index, 0|1]`, never a token). */
export type RoleTokensParse<R extends string> = { success: true; tokens: Record<string, R> } | { success: false; issues: z.core.$ZodIssue[] };

function issue(message: string): z.core.$ZodIssue {
  return { code: 'custom', path: [], message, input: undefined };
}

/**
 * Validates a token map, given as an object or as its JSON text: at least one token, each of
 * MIN_TOKEN_LENGTH+ characters, each with one of `roles`.
 */
export function parseRoleTokens<R extends string>(value: unknown, roles: z.ZodType<R>, expected: string): RoleTokensParse<R> {
  let map = value;
  if (typeof value === 'string') {
    try {
      map = JSON.parse(value);
    } catch {
      return { success: false, issues: [issue(`not valid JSON: expected ${expected}`)] };
    }
  }
  if (map === null || typeof map !== 'object' || Array.isArray(map)) return { success: false, issues: [issue(`expected ${expected}`)] };
  const entries = z
    .array(z.tuple([z.string().min(MIN_TOKEN_LENGTH, `tokens must have at least ${MIN_TOKEN_LENGTH} characters`), roles]))
    .min(1, 'at least one token is required')
    .safeParse(Object.entries(map));
  return entries.success ? { success: true, tokens: Object.fromEntries(entries.data) } : { success: false, issues: entries.error.issues };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Configured tokens, kept as digests, that answer which role a presented token has. */
export class BearerTokens<R extends string> {
  private readonly entries: ReadonlyArray<{ digest: Buffer; role: R }>;

  constructor(tokens: Readonly<Record<string, R>>) {
    this.entries = Object.entries(tokens).map(([token, role]) => ({ digest: digest(token), role }));
  }

  /** The role of `token`, comparing it with every configured one in constant time (no early exit). */
  roleOfToken(token: string): R | undefined {
    const presented = digest(token);
    let role: R | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.digest)) role = entry.role;
    }
    return role;
  }

  /** The role of an `Authorization: Bearer <token>` header's token; undefined for any other header. */
  roleOf(header: string | undefined): R | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    return match?.[1] === undefined ? undefined : this.roleOfToken(match[1]);
  }
}
