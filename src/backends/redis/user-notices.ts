import type { Redis } from 'ioredis';
import type { Hub } from '../../core/hub.js';
import type { Message } from '../../core/message.js';
import type { Log } from '../../core/ports.js';

/** Topic prefix of group-change control messages: no subscription matches it, replay skips it. */
const GROUPS_CHANGED = 'control:groups:';

/**
 * What a cluster tells every node about a user:
 * - a server-side group change is a control message appended to the log, so every node applies it to the
 *   user's live connections in log order: a message published after the change reaches the new members on
 *   every node (and a node cut off from the log applies it on resume);
 * - the unread count after an acknowledgement goes by Redis pub/sub: a badge, not part of the order, and
 *   frequent enough (every acknowledgement) that the log's history should not be spent on it.
 */
export class UserNotices {
  private readonly subscriber: Redis;
  private readonly channel: string;

  constructor(
    private readonly log: Log,
    /** The command connection, which publishes the unread counts. */
    private readonly publisher: Redis,
    private readonly hub: Hub,
    prefix: string,
    onError: (error: unknown) => void,
  ) {
    this.channel = `${prefix}inbox-unread`;
    // A connection in subscriber mode can run nothing else. It subscribes whenever it is (again) ready:
    // a subscription that failed as Redis went away is made when it is back.
    this.subscriber = publisher.duplicate({ lazyConnect: true, autoResubscribe: false });
    this.subscriber.on('error', onError);
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.channel).catch(onError);
    });
    this.subscriber.on('message', (_channel: string, text: string) => {
      try {
        const { user, unread } = JSON.parse(text) as { user: string; unread: number };
        this.hub.tellUnread(user, unread);
      } catch (error) {
        onError(error);
      }
    });
    this.subscriber.connect().catch(onError);
  }

  /** Announces a user's new server-side groups to every node, through the log. */
  async groupsChanged(userId: string, groups: readonly string[]): Promise<void> {
    await this.log.append({ topics: [GROUPS_CHANGED + userId], data: JSON.stringify(groups) });
  }

  /** Tells every node's live connections of `userId` how many inbox messages wait (fire and forget). */
  unread(userId: string, unread: number): void {
    this.publisher.publish(this.channel, JSON.stringify({ user: userId, unread })).catch(() => {});
  }

  /** Acts on a group-change control message from the log's tail; any other message is left alone. */
  observe(message: Message): void {
    const topic = message.topics[0];
    if (topic === undefined || !topic.startsWith(GROUPS_CHANGED)) return;
    this.hub.setServerGroups(topic.slice(GROUPS_CHANGED.length), JSON.parse(message.data) as string[]);
  }

  /**
   * Ends the subscriber connection at once: it holds nothing to flush, and a graceful `QUIT` queued while
   * Redis is away (a failover) would leave the connection reconnecting after the node closed.
   */
  async close(): Promise<void> {
    this.subscriber.disconnect();
  }
}
