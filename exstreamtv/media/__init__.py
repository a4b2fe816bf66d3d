"""Media: items, probing, languages, sources and the library."""
