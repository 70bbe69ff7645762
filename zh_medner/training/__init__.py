"""Training recipes: the optimizer with per-layer learning rates, data augmentation, subsets."""
