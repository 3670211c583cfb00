"""Assets, by concern: `ingestion` (landing files -> raw tables), `dbt` (every dbt model, seed and test),
`spam` (challenger, gate, champion, scores), `publish` (snapshot for readers, report)."""
