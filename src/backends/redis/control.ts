import { Disconnect } from '../../core/disconnect.js';
import type { Hub } from '../../core/hub.js';
import type { Message } from '../../core/message.js';
import type { ConnectionControl, Log, Presence } from '../../core/ports.js';

/** Topic prefix of control messages: no subscription matches it, and the publish API cannot produce it. */
const DISCONNECT_USER = 'control:disconnect-user:';

/**
 * A cluster on a shared log: a server-side close is a control message appended to the log, so it reaches
 * every node in log order through the tail (and a node that was cut off from the log gets it on resume).
 * No subscription matches a control topic and replay skips it, so clients never see it.
 */
export class ClusterControl implements ConnectionControl {
  constructor(
    private readonly log: Log,
    private readonly hub: Hub,
    private readonly presence: Presence,
  ) {}

  async disconnectUser(userId: string): Promise<number> {
    const { connections } = await this.presence.user(userId);
    await this.log.append({ topics: [DISCONNECT_USER + userId], data: '' });
    return connections;
  }

  /** Acts on a control message from the log's tail; any other message is left alone. */
  observe(message: Message): void {
    const topic = message.topics[0];
    if (topic === undefined || !topic.startsWith(DISCONNECT_USER)) return;
    this.hub.disconnectUser(topic.slice(DISCONNECT_USER.length), Disconnect.closedByServer);
  }
}
