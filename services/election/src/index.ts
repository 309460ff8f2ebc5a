/** Election and activation: pure logic (docs/election.md). */
export { ELECTION_DEFAULTS, type ElectionTimings } from './defaults.js';
