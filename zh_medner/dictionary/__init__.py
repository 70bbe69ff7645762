"""The drug dictionary for the entity ruler: CMeKG names, their morphology, word lists, patterns."""
