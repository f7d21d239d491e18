"""A service's safety: the rules decided on plain data (-> Verdict), the records they read
(leases, reverts, quarantine, release), and an account's mode under the rollout policy."""
