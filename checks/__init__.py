"""What Talon checks (the catalogue) and how each engine runs it.

- `catalogue`   : every check declared once (code, severity, entity, field, texts, official rule).
- `parsing`     : strict date/timestamp parsing as polars expressions.
- `identifiers` : SNILS and ENP validation as polars expressions (vectorised).
- `staging`     : typed copies of the current run's raw tables (stg_*), shared by both engines.
- `row_rules`   : row-level rules of one extract, as pandera (polars) schemas.
- `set_rules`   : set-level and cross-table rules, as SQL on the warehouse, run through GX.
- `findings`    : routing to the clinic that must fix, masking, the `findings` table.
"""
