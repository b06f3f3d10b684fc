import type { Hub } from '../../core/hub.js';
import type { Presence, PresenceSummary, UserPage, UserPresence } from '../../core/ports.js';

/** Presence of one node, read straight from its hub's index: exact at every instant. */
export class LocalPresence implements Presence {
  constructor(private readonly hub: Hub) {}

  async summary(): Promise<PresenceSummary> {
    return { connections: this.hub.connectionCount, users: this.hub.userCount };
  }

  async listUsers(query: { prefix: string; limit: number; cursor?: string | undefined }): Promise<UserPage> {
    const { prefix, limit, cursor } = query;
    const ids: string[] = [];
    for (const [id] of this.hub.onlineUsers()) {
      if (id.startsWith(prefix) && (cursor === undefined || id > cursor)) ids.push(id);
    }
    ids.sort();
    const page = ids.slice(0, limit);
    const users = page.map((id) => this.presenceOf(id));
    return { users, nextCursor: ids.length > limit ? page[page.length - 1] : undefined };
  }

  async user(id: string): Promise<UserPresence> {
    return this.presenceOf(id);
  }

  private presenceOf(id: string): UserPresence {
    const connections = this.hub.connectionCountOf(id);
    return { id, online: connections > 0, connections };
  }
}
