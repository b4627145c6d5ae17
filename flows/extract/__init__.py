"""Reading one extract batch (a folder of CSV/Parquet files) faithfully: dialect detection,
line-exact parsing, quarantine of what cannot be read."""
