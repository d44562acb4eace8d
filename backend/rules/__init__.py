"""Campaign rules (seed 001 §2.6.2, seed 000, seed 004): per-campaign versioned configuration, the filter
cascade over lead snapshots, do-not-call and bookings, the result taxonomy and what a call's outcome does next,
and the stale-client job. Below the features (campaigns, workstation import it), above lead intake."""
