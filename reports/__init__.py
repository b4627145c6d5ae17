"""Renderers: everything a clinic, an auditor or a data steward reads, made from the
`findings` table and the run ledger — nothing here recomputes a check."""
