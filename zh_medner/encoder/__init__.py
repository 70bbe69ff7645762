"""Encoders: character vocabulary, random stand-in, masked-LM pretraining, path check."""
