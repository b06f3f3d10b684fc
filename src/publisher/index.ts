/**
 * `herald-push/publisher`: publish to Herald from a Node backend. A client of Herald's HTTP API only; it
 * imports nothing of the server. See docs/publishing.md.
 */
export { PublishError } from './errors.js';
export { type OutgoingMessage, Publisher, type PublisherOptions, type Target } from './publisher.js';
