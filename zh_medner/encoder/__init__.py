"""Encoders: the character vocabulary, the random stand-in, masked-LM pretraining, the path check."""
