/** The per-instance agent (`pullback up --instance NAME`): docs/election.md. */
export {};
