/**
 * Topics are the routing keys of messages. A publisher's target (`users`, `groups`, `userPrefix`, `all`)
 * becomes one topic each; a subscription matches a message when any of the message's topics names it.
 */

/** The topic every subscription matches. */
export const ALL = 'all';

/** A `kind:name` topic split at its first `:` (`user:ann` is `user` and `ann`). */
export interface ParsedTopic {
  /** `user`, `group` or `prefix`; any other kind matches no subscription. */
  readonly kind: string;
  readonly name: string;
}

/** Splits a `kind:name` topic (every topic but `ALL`, which callers test for first). */
export function parseTopic(topic: string): ParsedTopic {
  const colon = topic.indexOf(':');
  return { kind: topic.slice(0, colon), name: topic.slice(colon + 1) };
}

/** How a user's topic starts: `user:` then the user's id. */
export const USER_TOPIC_PREFIX = 'user:';
export const userTopic = (userId: string): string => `${USER_TOPIC_PREFIX}${userId}`;
/** How a group's topic starts: `group:` then the group's name. */
export const GROUP_TOPIC_PREFIX = 'group:';
export const groupTopic = (group: string): string => `${GROUP_TOPIC_PREFIX}${group}`;
export const prefixTopic = (prefix: string): string => `prefix:${prefix}`;

/** What a publisher addresses a message to. At least one field must be set. */
export interface Target {
  users?: readonly string[];
  groups?: readonly string[];
  userPrefix?: string;
  all?: boolean;
}

/** Turns a publisher's target into the message's topics (deduplicated, in a stable order). */
export function topicsOf(target: Target): string[] {
  const topics = new Set<string>();
  if (target.all === true) topics.add(ALL);
  for (const user of target.users ?? []) topics.add(userTopic(user));
  for (const group of target.groups ?? []) topics.add(groupTopic(group));
  if (target.userPrefix !== undefined) topics.add(prefixTopic(target.userPrefix));
  return [...topics];
}

/** Who a subscription is: what it matches. */
export interface Audience {
  readonly userId: string;
  readonly groups: readonly string[];
}

/** True when a message with `topics` is addressed to `audience`. Used by replay; live routing uses indexes. */
export function addressedTo(topics: readonly string[], audience: Audience): boolean {
  for (const topic of topics) {
    if (topic === ALL) return true;
    const { kind, name } = parseTopic(topic);
    if (kind === 'user' && name === audience.userId) return true;
    if (kind === 'group' && audience.groups.includes(name)) return true;
    if (kind === 'prefix' && audience.userId.startsWith(name)) return true;
  }
  return false;
}
