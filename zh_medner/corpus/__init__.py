"""Records to spaCy Docs and DocBin files, with a report that accounts for every entity."""
