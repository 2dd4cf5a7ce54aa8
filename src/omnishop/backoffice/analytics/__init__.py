"""The analytics dashboard's data: rollups kept incrementally (`rollups`), what the page and the API read
(`queries`), and the API (`api`)."""
