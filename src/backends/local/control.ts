import type { Hub } from '../../core/hub.js';
import type { ConnectionControl } from '../../core/ports.js';

/** One node: the hub's own connections are all there is. */
export class LocalControl implements ConnectionControl {
  constructor(private readonly hub: Hub) {}

  async disconnectUser(userId: string): Promise<number> {
    return this.hub.disconnectUser(userId);
  }
}
